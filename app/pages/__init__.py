"""Dash pages, one module per page.

Each module calls :func:`register_page` (not ``dash.register_page``) at import time, with the
roles allowed to see it; Dash imports every module of this folder (``use_pages=True``). The
layout handed to Dash is wrapped so that the page router renders a 403 panel, never the page,
for a role the page does not allow: the guard on ``/_dash-update-component`` lets any signed-in
user call the router (it is shared by all pages), so the check has to happen here too.

Callbacks are *not* declared with ``@dash.callback`` (a process-wide list that the next Dash app
to start would consume): each page passes ``callbacks=register`` and :func:`app.create_app`
calls it with its own Dash app, so several apps can live in one process (the tests build many).

Adding a page (say ``wallboard``):

1. ``app/pages/wallboard.py`` calls ``register_page(__name__, name="wallboard", path="/wallboard",
   title="Wallboard", roles=("admin", "manager", "supervisor"), layout=layout, callbacks=register)``;
2. every component id starts with ``wallboard-`` (or is a dict id with ``"page": "wallboard"``):
   the guard maps each callback output to its page by that prefix and refuses (403) ids it
   cannot place, so an unprefixed id breaks the page instead of opening it to every role;
3. ``register(dash_app)`` declares the callbacks with ``dash_app.callback(...)``; keep their
   bodies thin (call functions in ``app/`` or ``analytics/`` that are unit-tested);
4. ``tests/integration/test_security_guard.py`` covers the new page and callbacks automatically
   (role x callback matrix from the registry); pin a cell or two in ``PINNED`` for it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import dash
from flask_login import current_user

from app.components.forbidden import forbidden_panel
from app.registry import LayoutFn, PageSpec, add_page

logger = logging.getLogger(__name__)


def current_role() -> str | None:
    """The signed-in user's role, or ``None`` (anonymous or outside a request)."""
    try:
        if current_user and current_user.is_authenticated:
            return str(current_user.role)
    except RuntimeError:  # no request context (Dash validating layouts at start-up)
        return None
    return None


def guarded_layout(spec: PageSpec, layout: LayoutFn) -> LayoutFn:
    @functools.wraps(layout)
    def render(**kwargs: Any) -> Any:
        role = current_role()
        if not spec.allows(role):
            logger.info("page %s refused to role %s", spec.name, role)
            return forbidden_panel(spec.title)
        return layout(**kwargs)

    return render


def register_page(
    module: str,
    *,
    name: str,
    path: str,
    title: str,
    roles: Iterable[str],
    layout: LayoutFn,
    callbacks: Callable[[dash.Dash], None] | None = None,
    order: int = 0,
    description: str = "",
    path_template: str | None = None,
) -> PageSpec:
    spec = add_page(
        PageSpec(
            name=name,
            path=path,
            title=title,
            roles=frozenset(roles),
            order=order,
            description=description,
            register_callbacks=callbacks,
            path_template=path_template,
        )
    )
    dash.register_page(
        module,
        path=path,
        name=title,
        title=f"{title} · PyDialer",
        order=order,
        description=description,
        layout=guarded_layout(spec, layout),
        **({"path_template": path_template} if path_template else {}),
    )
    return spec
