"""Named saved views (a page's filter state) per user, in PostgreSQL ``saved_views``.

Every function takes the caller's session and the *signed-in* user's id: a user only ever sees,
overwrites or deletes their own views (the WHERE clause carries ``user_id``), so a forged view
id from another user is simply "not found".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.exceptions import NotFound, ValidationError
from core.models_ops import SavedView

logger = logging.getLogger(__name__)

MAX_NAME = 100
MAX_STATE_BYTES = 8_000
MAX_VIEWS_PER_PAGE = 100


@dataclass(frozen=True)
class View:
    id: int
    name: str
    state: dict[str, Any]


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("invalid view", {"name": "give the view a name"})
    clean = " ".join(name.split())
    if len(clean) > MAX_NAME:
        raise ValidationError("invalid view", {"name": f"at most {MAX_NAME} characters"})
    return clean


def list_views(session: Session, user_id: int, page: str) -> list[View]:
    rows = session.scalars(sa.select(SavedView).where(SavedView.user_id == user_id, SavedView.page == page)
                           .order_by(SavedView.name)).all()
    return [View(r.id, r.name, dict(r.state)) for r in rows]


def save_view(session: Session, user_id: int, page: str, name: object, state: dict[str, Any]) -> View:
    """Create the view, or overwrite the user's view of the same name on that page."""
    clean = _clean_name(name)
    if not isinstance(state, dict) or len(json.dumps(state)) > MAX_STATE_BYTES:
        raise ValidationError("invalid view", {"state": f"a JSON object under {MAX_STATE_BYTES} bytes"})
    row = session.scalar(sa.select(SavedView).where(SavedView.user_id == user_id, SavedView.page == page,
                                                    SavedView.name == clean))
    if row is None:
        count = session.scalar(sa.select(sa.func.count()).select_from(SavedView)
                               .where(SavedView.user_id == user_id, SavedView.page == page)) or 0
        if count >= MAX_VIEWS_PER_PAGE:
            raise ValidationError("invalid view", {"name": f"at most {MAX_VIEWS_PER_PAGE} saved views per page"})
        row = SavedView(user_id=user_id, page=page, name=clean, state=state)
        session.add(row)
    else:
        row.state = state
    session.flush()
    return View(row.id, row.name, dict(row.state))


def get_view(session: Session, user_id: int, page: str, view_id: int) -> View:
    row = session.scalar(sa.select(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id,
                                                    SavedView.page == page))
    if row is None:
        raise NotFound("no such saved view")
    return View(row.id, row.name, dict(row.state))


def delete_view(session: Session, user_id: int, page: str, view_id: int) -> None:
    result = session.execute(sa.delete(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id,
                                                        SavedView.page == page))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("no such saved view")
