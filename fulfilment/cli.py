"""Flask CLI commands: `users create|token`, `demo seed`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from fulfilment.errors import InvalidInput
from fulfilment.models import ROLES
from fulfilment.services.users import create_user, issue_token

users_cli = AppGroup("users", help="Manage logins and API tokens.")


def _fail(exc: InvalidInput) -> None:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    raise click.ClickException(f"{exc}: {details}" if details else str(exc))


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_create(email: str, role: str, password: str) -> None:
    """Create a login with ROLE (viewer, ops or admin)."""
    try:
        user = create_user(email, role, password, actor="system:cli")
    except InvalidInput as exc:
        _fail(exc)
        return
    click.echo(f"created {user.email} ({user.role})")


@users_cli.command("token")
@click.argument("email")
def users_token(email: str) -> None:
    """Print a new API token for EMAIL (shown once; only its hash is stored)."""
    try:
        token = issue_token(email, actor="system:cli")
    except InvalidInput as exc:
        _fail(exc)
        return
    click.echo(token)


flags_cli = AppGroup("flags", help="Feature flags.")


@flags_cli.command("seed")
def flags_seed() -> None:
    """Store flag seeds from the environment (unless an admin set them) and the team's starting
    saved views. Idempotent."""
    from fulfilment.admin.orders import seed_saved_views
    from fulfilment.services.flags import list_flags, seed_flags

    seed_flags()
    seed_saved_views()
    for flag in list_flags():
        click.echo(f"{flag.key} = {'on' if flag.enabled else 'off'} ({flag.source})")


demo_cli = AppGroup("demo", help="Demo data for local runs.")


@demo_cli.command("seed")
@click.option("--count", default=8, show_default=True, type=click.IntRange(1, 10_000))
def demo_seed(count: int) -> None:
    """Store COUNT realistic demo orders through the real intake service."""
    from fulfilment.demo import seed_demo_orders

    ids = seed_demo_orders(count)
    click.echo(f"{len(ids)} demo orders: {ids[0]} … {ids[-1]}")


shipments_cli = AppGroup("shipments", help="Shiprocket shipments.")


@shipments_cli.command("sweep")
def shipments_sweep() -> None:
    """Re-queue shipments left mid-way (a killed worker, a lost job)."""
    from fulfilment.services.shipments import sweep_stalled_shipments

    ids = sweep_stalled_shipments()
    click.echo(f"re-queued {len(ids)} stalled shipment(s)")
