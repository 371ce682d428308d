"""Which page owns which component id, and which roles may use that page.

Every Dash page module calls :func:`register_page` with the roles allowed to see it. Every
component id in the app is *page-prefixed*: ``"live-agents-table"`` belongs to the page named
``live``; a pattern-matching id names its page explicitly (``{"page": "audit", "type": ...}``).
The navigation shell (navbar, logout) uses the prefix ``shell-`` and is available to any
signed-in user; Dash's own page router ids (``_pages_*``) belong to the router.

:mod:`app.guard` uses :func:`owner_of` and :func:`may_use` to decide, for every
``/_dash-update-component`` request, whether the signed-in role may run that callback. An id
whose owner cannot be determined is refused: the mapping is fail-closed, so a page that forgets
to prefix its ids simply does not work, instead of working for everyone.

This module imports no Flask request state; it is pure and unit-tested.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.models import ROLES

logger = logging.getLogger(__name__)

SHELL = "shell"
ROUTER = "router"
#: Component ids created by ``dash.page_container``: the client-side router of Dash pages.
ROUTER_IDS = frozenset({"_pages_location", "_pages_content", "_pages_store", "_pages_dummy"})
ALL_ROLES: frozenset[str] = frozenset(ROLES)
_PAGE_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")  # no '-': the first '-' of an id ends its prefix

ComponentId = str | Mapping[str, Any]
LayoutFn = Callable[..., Any]


@dataclass(frozen=True)
class PageSpec:
    """One page of the app as the guard and the navbar see it."""

    name: str
    path: str
    title: str
    roles: frozenset[str]
    order: int = 0
    description: str = ""
    register_callbacks: Callable[[Any], None] | None = field(default=None, compare=False)
    #: Dash path template (``/wallboard/<campaign>``): also served at ``path`` without variables.
    path_template: str | None = None

    def allows(self, role: str | None) -> bool:
        return role is not None and role in self.roles


#: name -> spec. Filled when Dash imports ``app/pages`` (``use_pages=True``). Re-importing a
#: page module (Dash does that for each ``create_app``) replaces its entry with an equal one.
PAGES: dict[str, PageSpec] = {}


def validate_spec(name: str, path: str, roles: Iterable[str]) -> frozenset[str]:
    """Reject a malformed registration at import time rather than at the first request."""
    if not _PAGE_NAME.match(name):
        raise ValueError(f"page name {name!r} must match {_PAGE_NAME.pattern} (it is the id prefix)")
    if name in (SHELL, ROUTER):
        raise ValueError(f"page name {name!r} is reserved")
    if not path.startswith("/") or (path != "/" and path.endswith("/")):
        raise ValueError(f"page path {path!r} must start with '/' and not end with '/'")
    role_set = frozenset(roles)
    if not role_set:
        raise ValueError(f"page {name!r} must allow at least one role")
    unknown = role_set - ALL_ROLES
    if unknown:
        raise ValueError(f"page {name!r}: unknown roles {sorted(unknown)}; expected some of {list(ROLES)}")
    for other in PAGES.values():
        if other.path == path and other.name != name:
            raise ValueError(f"page {name!r}: path {path!r} is already used by page {other.name!r}")
    return role_set


def add_page(spec: PageSpec) -> PageSpec:
    validate_spec(spec.name, spec.path, spec.roles)
    PAGES[spec.name] = spec
    return spec


def owner_of(component_id: object) -> str | None:
    """The page name (or ``shell`` / ``router``) that owns ``component_id``; ``None`` if unknown."""
    if isinstance(component_id, str):
        if component_id in ROUTER_IDS:
            return ROUTER
        prefix, sep, _rest = component_id.partition("-")
        if not sep:
            return None
    elif isinstance(component_id, Mapping):
        prefix = component_id.get("page")  # type: ignore[assignment]
        if not isinstance(prefix, str):
            return None
    else:
        return None
    if prefix == SHELL or prefix in PAGES:
        return prefix
    return None


def may_use(role: str | None, owner: str | None) -> bool:
    """May a signed-in user with ``role`` run callbacks of ``owner``? Unknown owner: never."""
    if role not in ALL_ROLES or owner is None:
        return False
    if owner in (SHELL, ROUTER):
        return True
    spec = PAGES.get(owner)
    return spec is not None and spec.allows(role)


def page_for_path(pathname: object) -> PageSpec | None:
    """The registered page served at ``pathname`` (exact match, trailing '/' ignored)."""
    if not isinstance(pathname, str) or not pathname.startswith("/"):
        return None
    path = pathname.split("?", 1)[0].rstrip("/") or "/"
    for spec in PAGES.values():
        if spec.path == path:
            return spec
    for spec in PAGES.values():
        if spec.path_template and template_matches(spec.path_template, path):
            return spec
    return None


def template_matches(template: str, path: str) -> bool:
    """``/wallboard/<campaign>`` matches ``/wallboard/3``: one non-empty segment per variable."""
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return False
    return all(g and (w == g or (w.startswith("<") and w.endswith(">"))) for w, g in zip(want, got, strict=True))


def pages_for_role(role: str | None) -> list[PageSpec]:
    """The pages ``role`` may open, in navbar order."""
    return sorted((p for p in PAGES.values() if p.allows(role)), key=lambda p: (p.order, p.name))
