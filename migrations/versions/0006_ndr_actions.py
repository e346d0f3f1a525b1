"""ndr actions (ops' answers to Shiprocket's non-delivery reports)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ndr_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('awb', sa.String(length=40), nullable=False),
    sa.Column('ndr_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.CheckConstraint("action IN ('reattempt', 'rto')", name=op.f('ck_ndr_actions_action_valid')),
    sa.ForeignKeyConstraint(['order_pk'], ['orders.id'], name=op.f('fk_ndr_actions_order_pk_orders')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_ndr_actions_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ndr_actions')),
    sa.UniqueConstraint('shipment_id', 'ndr_at', name='uq_ndr_actions_shipment_ndr_at')
    )
    with op.batch_alter_table('ndr_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ndr_actions_order_pk'), ['order_pk'], unique=False)


def downgrade():
    with op.batch_alter_table('ndr_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ndr_actions_order_pk'))

    op.drop_table('ndr_actions')
