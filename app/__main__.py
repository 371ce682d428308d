"""``python -m app``: the development server on ``WEB_HOST:WEB_PORT`` (threaded)."""

from __future__ import annotations

import logging

from app import create_app
from core.config import Settings


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    app.run(host=settings.web_host, port=settings.web_port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
