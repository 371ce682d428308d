import dataclasses
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from core.config import PbxServer, Settings
from core.exceptions import ConfigError


def test_unset_urls_mean_embedded_engines(tmp_path: Path) -> None:
    settings = Settings.from_env({"PYDIALER_DATA_DIR": str(tmp_path)})
    assert settings.embedded_postgres and settings.embedded_redis and settings.embedded_clickhouse
    assert settings.data_dir == tmp_path.resolve()
    assert settings.pbx_servers == (PbxServer(name="sim1"),)


def _secret_after(barrier: Any, data_dir: str, out: Any) -> None:
    barrier.wait()
    try:
        out.put(Settings.from_env({"PYDIALER_DATA_DIR": data_dir}).secret_key)
    except Exception as exc:  # reported to the test, not lost in the child
        out.put(f"error: {exc!r}")


def test_processes_starting_together_share_one_secret_key(tmp_path: Path) -> None:
    """The Celery worker and Flower start at once on a fresh data dir: none may fail, all agree."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        data_dir = tmp_path / f"r{round_}"
        barrier, out = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_secret_after, args=(barrier, str(data_dir), out)) for _ in range(6)]
        for p in procs:
            p.start()
        keys = [out.get(timeout=20) for _ in procs]
        for p in procs:
            p.join(10)
        assert not [k for k in keys if k.startswith("error")], keys
        assert len(set(keys)) == 1 and (data_dir / "secret_key").read_text() == keys[0]
        assert not [f.name for f in data_dir.iterdir() if f.name.startswith(".")]  # no temporary files left


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings.from_env({"PYDIALER_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"PYDIALER_DATA_DIR": str(tmp_path)})
    assert len(first.secret_key) > 40
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    # Settings get logged: no secret may show up in their repr.
    pbx = PbxServer(name="pbx1", ami_secret="ami-secret-x", ari_password="ari-password-x")
    shown = repr(dataclasses.replace(first, openai_api_key="sk-test-key", demo_password="demo-pw-x",
                                     pbx_servers=(pbx,)))
    for secret in (first.secret_key, first.ai_webhook_secret, "sk-test-key", "demo-pw-x", "ami-secret-x",
                   "ari-password-x"):
        assert secret not in shown
    assert "secret_key=" not in shown and str(tmp_path) in shown  # the field is hidden, not the repr


def test_set_urls_mean_servers(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PYDIALER_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u:p@db/pydialer",
            "REDIS_URL": "redis://cache:6379/0",
            "CLICKHOUSE_URL": "http://ch:8123",
        }
    )
    assert not (settings.embedded_postgres or settings.embedded_redis or settings.embedded_clickhouse)


def test_pbx_servers_parsed_from_json(tmp_path: Path) -> None:
    raw = '[{"name":"a","ami":"tcp://u:s%40x@10.0.0.1:5039","ari":"https://au:ap@10.0.0.1:8089","app":"pd"}]'
    settings = Settings.from_env({"PYDIALER_DATA_DIR": str(tmp_path), "PBX_SERVERS": raw})
    (pbx,) = settings.pbx_servers
    assert (pbx.ami_host, pbx.ami_port, pbx.ami_username, pbx.ami_secret) == ("10.0.0.1", 5039, "u", "s@x")
    assert (pbx.ari_url, pbx.ari_username, pbx.ari_password, pbx.ari_app) == ("https://10.0.0.1:8089", "au", "ap", "pd")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PBX_SERVERS": "not json"}, "PBX_SERVERS: not valid JSON"),
        ({"PBX_SERVERS": "[]"}, "non-empty JSON list"),
        ({"PBX_SERVERS": '[{"ami":"tcp://h:1"}]'}, "PBX_SERVERS[0].name"),
        ({"PBX_SERVERS": '[{"name":"a","ami":"ftp://h"}]'}, "PBX_SERVERS[0].ami"),
        ({"PBX_SERVERS": '[{"name":"a","bogus":1}]'}, "unknown keys"),
        ({"PBX_SERVERS": '[{"name":"a"},{"name":"a"}]'}, "unique"),
        ({"WEB_PORT": "eighty"}, "WEB_PORT: expected an integer"),
        ({"WEB_PORT": "70000"}, "outside"),
        ({"SESSION_COOKIE_SECURE": "maybe"}, "SESSION_COOKIE_SECURE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Settings.from_env({"PYDIALER_DATA_DIR": str(tmp_path), **env})
