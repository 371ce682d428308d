"""Entry point for a WSGI server: ``gunicorn --threads 8 app.wsgi:app``."""

from __future__ import annotations

from app import create_app

app = create_app()
