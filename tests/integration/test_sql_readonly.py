"""/sql as the read-only user, and the read-only role DDL, against a real ``analytics.server``.

* ``CLICKHOUSE_READONLY_URL`` set: /sql runs its statements as that user (here the server's
  ``--readonly-user``) -- proven by pointing it at a database the app's own client does not see.
* ``sql/clickhouse/roles/readonly.sql`` (``Migrator.roles``) is executed against ``ch_server``.
  chdb has no access-control storage (no users.xml / ``access_control_path``): its built-in
  ``default`` user holds no ``CREATE ROLE`` / ``CREATE USER`` / ``CREATE QUOTA`` grant, so the first
  statement fails with ``ACCESS_DENIED`` (code 497) and nothing is created. The test pins that
  exact refusal: when a chdb release gains access control, it fails and the DDL must then be
  proven to apply (role, profile, quota, user) instead.
"""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import urlsplit

import pytest

from analytics.generate import insert_dataset
from analytics.schema import Migrator
from tests.conftest import CH_READONLY_PASSWORD, CH_READONLY_USER
from tests.integration import test_analytics_page_helpers as helpers
from tests.integration.test_analytics_page_helpers import call, out, signed_in

loaded_ch = helpers.loaded_ch

pytestmark = pytest.mark.slow


def _run(client, app, sql):
    return call(client, app, "sql-grid.columnDefs", {"sql-run.n_clicks": 1, "sql-text.value": sql})


def test_sql_page_runs_as_the_readonly_user(web_settings, web_users, web_redis, loaded_ch, ch_server, ch_http_client):
    from app import create_app
    from app.pages.analytics_data import EXTENSION_KEY, set_client

    # The read-only user's database holds a tenth of the page's data: counts tell who answered.
    small = dataclasses.replace(loaded_ch[1], cdr=loaded_ch[1].cdr.head(len(loaded_ch[1].cdr) // 10))
    insert_dataset(ch_http_client, small)
    port = urlsplit(ch_server).port
    ro_url = f"http://{CH_READONLY_USER}:{CH_READONLY_PASSWORD}@127.0.0.1:{port}/{ch_http_client.database}"
    app = create_app(dataclasses.replace(web_settings, clickhouse_readonly_url=ro_url), testing=True)
    try:
        set_client(app, loaded_ch[0], serialise=True)  # the app's own (full-access) client
        client = signed_in(app, "manager")
        resp = _run(client, app, "SELECT count() AS n FROM cdr FINAL")
        assert out(resp, "sql-grid", "rowData") == [{"c0": len(small.cdr)}], json.dumps(out(resp, "sql-msg", "children"))
        assert app.extensions[EXTENSION_KEY].readonly_client is not None
        # Refusals still come first, as the read-only user too.
        resp = _run(client, app, "SELECT * FROM system.tables")
        assert "system.tables is a server table" in json.dumps(out(resp, "sql-msg", "children"))
    finally:
        app.extensions["pydialer"].engine.dispose()


def test_wrong_readonly_password_is_a_clear_error(web_settings, web_users, web_redis, ch_server):
    from app import create_app

    port = urlsplit(ch_server).port
    app = create_app(dataclasses.replace(
        web_settings, clickhouse_readonly_url=f"http://{CH_READONLY_USER}:wrong@127.0.0.1:{port}/default"), testing=True)
    try:
        resp = _run(signed_in(app, "admin"), app, "SELECT 1")
        assert out(resp, "sql-grid", "rowData") == []
        text = json.dumps(out(resp, "sql-msg", "children"))
        assert "516" in text or "password" in text.lower() or "authentication" in text.lower(), text
    finally:
        app.extensions["pydialer"].engine.dispose()


def test_readonly_role_ddl_against_the_embedded_server(ch_http_client):
    with pytest.raises(Exception) as info:
        Migrator(ch_http_client, ch_http_client.database).roles("analyst-pw-1")
    text = str(info.value)
    assert "497" in text and "ACCESS_DENIED" in text and "CREATE ROLE" in text, text
