"""WSGI entry point: `gunicorn app:app`, `flask --app app …`."""

import sys

from config import ConfigError
from impersonator import create_app

try:
    app = create_app()
except ConfigError as problem:
    sys.exit(f"impersonator: {problem}")
