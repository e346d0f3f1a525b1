"""tracking events: two partial indexes instead of two full ones

A scan row is either a shipment's (indexed by shipment and time, for the order page) or an
unmatched AWB's (indexed by AWB and time, for the review page and adoption): each row now
costs one secondary index insert instead of two. Tracking pushes are the busiest writes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.drop_index('ix_tracking_events_awb_occurred_at')
        batch_op.drop_index('ix_tracking_events_shipment_id')
        batch_op.create_index(
            'ix_tracking_events_shipment_id_occurred_at', ['shipment_id', 'occurred_at'],
            unique=False,
            postgresql_where=sa.text('shipment_id IS NOT NULL'),
            sqlite_where=sa.text('shipment_id IS NOT NULL'),
        )
        batch_op.create_index(
            'ix_tracking_events_unmatched_awb', ['awb', 'occurred_at'],
            unique=False,
            postgresql_where=sa.text('shipment_id IS NULL'),
            sqlite_where=sa.text('shipment_id IS NULL'),
        )


def downgrade():
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.drop_index('ix_tracking_events_unmatched_awb')
        batch_op.drop_index('ix_tracking_events_shipment_id_occurred_at')
        batch_op.create_index('ix_tracking_events_shipment_id', ['shipment_id'], unique=False)
        batch_op.create_index(
            'ix_tracking_events_awb_occurred_at', ['awb', 'occurred_at'], unique=False
        )
