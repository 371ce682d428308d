"""Shared by the /analytics and /sql integration tests: generated data in chdb, a web app wired
to it, and a Dash callback caller that POSTs exactly like the renderer (CSRF header included).

(No tests here; the name keeps the file inside the analytics page's test files.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.generate import Dataset, GenSpec, generate, insert_dataset
from app.auth import CSRF_COOKIE, CSRF_HEADER
from app.guard import DASH_CALLBACK_PATH
from tests.conftest import WEB_USERS, web_login

# Recent days: dial_decisions has a 90-day TTL, older rows would be dropped on insert.
TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=3)
SPEC = GenSpec(start=START, days=3, calls=3_000, campaigns=3, agents=12, teams=3, seed=11, transcribed_share=0.3)
# Local calling days START..START+2 spill into the next UTC day (US evenings): include it.
FIRST, LAST = START.isoformat(), (START + timedelta(days=3)).isoformat()


@pytest.fixture(scope="module")
def loaded_ch(ch_engine_path: Path) -> Iterator[tuple[Any, Dataset]]:
    """One migrated chdb database holding :data:`SPEC`'s generated data, for the module."""
    import clickhouse_connect

    from analytics.schema import Migrator

    client = clickhouse_connect.get_client(interface="chdb", path=str(ch_engine_path))
    name = f"pyd_page_{uuid.uuid4().hex[:8]}"
    Migrator(client, name).up()
    client.database = name
    data = generate(SPEC)
    insert_dataset(client, data)
    yield client, data
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


@pytest.fixture()
def page_app(web_app: Any, loaded_ch: tuple[Any, Dataset]) -> Any:
    from app.pages.analytics_data import set_client

    set_client(web_app, loaded_ch[0], serialise=True)
    return web_app


def signed_in(app: Any, role: str) -> Any:
    client = app.test_client()
    assert web_login(client, WEB_USERS[role]).status_code == 302
    return client


def callback_key(app: Any, first_output: str) -> str:
    """The callback_map key of the callback whose first output is ``first_output`` ("id.prop")."""
    dash_app = app.extensions["pydialer_dash"]
    app.test_client().get("/healthz")
    for key in dash_app.callback_map:
        if key == first_output or key.startswith(f"..{first_output}..."):
            return key
    raise KeyError(first_output)


def call(client: Any, app: Any, first_output: str, values: dict[str, Any] | None = None,
         changed: str | None = None) -> Any:
    """POST one callback; ``values`` maps "id.prop" of inputs/state to values (others None).
    Returns the Flask response (JSON ``response`` -> {id: {prop: value}} on success)."""
    from dash._utils import split_callback_id

    values = values or {}
    key = callback_key(app, first_output)
    entry = app.extensions["pydialer_dash"].callback_map[key]
    parts = split_callback_id(key)

    def items(kind: str) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in entry[kind]]

    inputs = items("inputs")
    body = {"output": key, "outputs": parts, "inputs": inputs, "state": items("state"),
            "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    cookie = client.get_cookie(CSRF_COOKIE)
    headers = {CSRF_HEADER: cookie.value} if cookie is not None else {}
    return client.post(DASH_CALLBACK_PATH, data=json.dumps(body), content_type="application/json", headers=headers)


def out(response: Any, component: str, prop: str) -> Any:
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:500])
    return response.get_json()["response"][component][prop]


def state(campaign: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    return {"start": FIRST, "end": LAST, "campaign": campaign or [], "list": [], "team": [], "agent": [], **extra}


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    return (datetime.combine(first, datetime.min.time(), UTC),
            datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC))
