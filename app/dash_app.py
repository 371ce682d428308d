"""The Dash half of the web app: pages, the shell layout (navbar + page router), local assets.

Everything is served from this process: the Bootstrap CSS from ``assets/vendor`` (linked as a
local ``external_stylesheets`` entry so it loads *before* our own ``assets/*.css``), the Dash and
Plotly bundles from ``/_dash-component-suites`` (``serve_locally=True``). No CDN anywhere: the
Content-Security-Policy set in :mod:`app` would block one anyway.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
from dash import html
from flask_login import current_user

from app import registry
from app.auth import CSRF_COOKIE, CSRF_HEADER, csrf_token
from app.components.navbar import navbar

logger = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parent
ASSETS_DIR = APP_DIR.parent / "assets"
PAGES_DIR = APP_DIR / "pages"
BOOTSTRAP_CSS = "/assets/vendor/bootstrap-5.3.6.min.css"

INDEX_STRING = """<!DOCTYPE html>
<html lang="en" data-bs-theme="light">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        <noscript>PyDialer needs JavaScript for its live pages.</noscript>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def shell_layout() -> html.Div:
    """The per-request app shell. ``/_dash-layout`` only reaches here with a session (the guard
    answers 401 before), and the page content itself comes from the router callback."""
    if not (flask.has_request_context() and current_user and current_user.is_authenticated):
        return html.Div(dash.page_container, id="shell-root")
    return html.Div(
        [
            navbar(current_user.display_name, current_user.role, csrf_token()),
            dbc.Container(dash.page_container, fluid=True, className="pyd-content pb-4"),
        ],
        id="shell-root",
    )


def create_dash(server: flask.Flask) -> dash.Dash:
    dash_app = dash.Dash(
        "app",
        server=server,  # type: ignore[arg-type]  # Dash's stub says bool | callable; a Flask app is documented
        use_pages=True,
        pages_folder=str(PAGES_DIR),
        assets_folder=str(ASSETS_DIR),
        assets_ignore=r"^bootstrap-.*\.css$",
        external_stylesheets=[BOOTSTRAP_CSS],
        serve_locally=True,
        suppress_callback_exceptions=True,  # page layouts are rendered per user, not at start-up
        update_title=None,  # type: ignore[arg-type]  # None = never change the tab title while updating
        title="PyDialer",
        compress=False,
        enable_mcp=False,
        csrf_token_name=CSRF_COOKIE,
        csrf_header_name=CSRF_HEADER,
    )
    server.extensions["pydialer_dash"] = dash_app
    dash_app.index_string = INDEX_STRING
    dash_app.layout = shell_layout
    for spec in sorted(registry.PAGES.values(), key=lambda p: p.name):
        if spec.register_callbacks is not None:
            spec.register_callbacks(dash_app)
    logger.debug("Dash pages: %s", ", ".join(sorted(registry.PAGES)))
    return dash_app
