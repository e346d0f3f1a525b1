"""gunicorn target: `gunicorn wsgi:app`."""

from fulfilment import create_app
from fulfilment.errors import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # one clear line naming the setting, no traceback
    raise SystemExit(f"fulfilment: configuration error: {exc}") from None
