"""docker-compose.yml cannot run here (no Docker engine), so it is validated and cross-checked."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _module_exists(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return False
    if spec is None:
        return False
    if spec.submodule_search_locations:  # a package run with -m needs a __main__
        return importlib.util.find_spec(f"{module}.__main__") is not None
    return True


def _modules_in_command(command: list[str]) -> list[str]:
    """Python modules a service command runs: `python -m X`, gunicorn `X:app`, celery `-A X`."""
    text = " ".join(command)
    modules = re.findall(r"python -m ([\w.]+)", text)
    modules += [m.split(":")[0] for m in re.findall(r"\b([A-Za-z_][\w.]*:[A-Za-z_]\w*)\b", text) if "gunicorn" in text]
    modules += re.findall(r"celery -A ([\w.]+)", text)
    return modules


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is installed by scripts/system-deps.sh")
def test_compose_file_is_valid(tmp_path: Path) -> None:
    # docker-compose reads env_file: .env from the project dir; use the documented example.
    for name in ("docker-compose.yml", "Dockerfile", ".env.example"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        ["docker-compose", "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_service_command_exists_in_the_code() -> None:
    checked = []
    for name, service in _services().items():
        command = service.get("command")
        if not command:
            continue
        for module in _modules_in_command(command):
            assert _module_exists(module), f"service {name!r} runs {module!r}, which is not in the code"
            checked.append(module)
    # The services that must exist, whatever the YAML anchors do.
    for must in ("app.wsgi", "dialer.celery_app", "telephony", "core.migrate", "analytics.schema"):
        assert must in checked, f"no service runs {must}"


def test_asterisk_config_is_shipped() -> None:
    volumes = _services()["asterisk"]["volumes"]
    config_dir = ROOT / volumes[0].split(":")[0]
    for conf in ("manager.conf", "http.conf", "ari.conf", "pjsip.conf", "extensions.conf"):
        assert (config_dir / conf).is_file(), f"{conf} missing from {config_dir}"
    manager = (config_dir / "manager.conf").read_text()
    assert "[pydialer]" in manager
    extensions = (config_dir / "extensions.conf").read_text()
    for needle in ("AMD(", "ChanSpy(", "Stasis("):
        assert needle in extensions, f"extensions.conf lacks {needle}"


# --- the compose file against the rest of the tree ------------------------------------------------

ASTERISK_DIR = ROOT / "telephony" / "asterisk"
#: Programs of `make run` that production replaces or does not run, and why.
NOT_IN_PRODUCTION = {
    "pbx-sim": "the simulator stands in for the `asterisk` service",
    "agents": "virtual agents only work the demo campaign",
}
#: Dialplan application / function -> the module that provides it (autoload = no in modules.conf).
DIALPLAN_MODULES = {
    "AMD": "app_amd.so", "Dial": "app_dial.so", "Playback": "app_playback.so", "ChanSpy": "app_chanspy.so",
    "Stasis": "app_stasis.so", "Return": "app_stack.so", "Gosub": "app_stack.so",
    "WaitForSilence": "app_waitforsilence.so", "MixMonitor": "app_mixmonitor.so", "Echo": "app_echo.so",
    "CHANNEL": "func_channel.so", "IF": "func_logic.so", "LEN": "func_strings.so",
    "PJSIP_HEADER": "res_pjsip_header_funcs.so",
}
#: Built into Asterisk's core (pbx_builtins / pbx_variables), no module to load.
DIALPLAN_BUILTINS = {"NoOp", "Set", "Goto", "GotoIf", "Hangup", "Wait", "Answer", "Verbose", "Progress", "Ringing"}


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _interpolate(value: object, env: dict[str, str]) -> object:
    """Compose's ``${NAME}`` / ``${NAME:-default}`` substitution, from ``env`` (the .env file)."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(3) or ""
            return env.get(name) or default
        return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    return value


def _resolved_services(overrides: dict[str, str] | None = None) -> dict[str, dict]:
    env = {**_env_example(), **(overrides or {})}
    return _interpolate(_services(), env)  # type: ignore[return-value]


def _command_text(service: dict) -> str:
    command = service.get("command") or []
    return " ".join(command) if isinstance(command, list) else str(command)


def _supervisor_programs() -> list:
    import argparse

    from core.config import Settings
    from core.supervisor import suite_programs

    args = argparse.Namespace(simulator=True, demo=True, agents=1, agents_campaign="Solar Outreach")
    return suite_programs(Settings(data_dir=ROOT / "var"), args)


def _program_signature(argv: list[str]) -> str:
    """What identifies a program in a command line: ``-m X`` (+ the celery sub-command)."""
    text = " ".join(argv)
    if m := re.search(r"-m celery -A ([\w.]+) (\w+)", text):
        return f"celery -A {m.group(1)} {m.group(2)}"
    m = re.search(r"-m ([\w.]+)", text)
    assert m, f"cannot tell which module {argv} runs"
    return f"python -m {m.group(1)}"


def test_every_program_of_make_run_has_a_compose_service() -> None:
    commands = {name: _command_text(s) for name, s in _services().items()}
    for program in _supervisor_programs():
        if program.name in NOT_IN_PRODUCTION:
            continue
        signature = _program_signature(program.argv)
        if signature == "python -m app":  # the dev server; production serves the same app with gunicorn
            signature = "app.wsgi:app"
        runners = [name for name, text in commands.items() if signature in text]
        assert runners, f"`make run` starts {program.name} ({signature}) but no compose service runs it"
    # The engine make run embeds (analytics.server over chdb) is the clickhouse server here.
    assert "clickhouse" in commands and "asterisk" in commands  # what pbx-sim stands in for


def test_compose_workers_consume_every_queue_make_run_consumes() -> None:
    def queues(text: str) -> set[str]:
        m = re.search(r"-Q (\S+)", text)
        return set(m.group(1).split(",")) if m else set()

    wanted = set().union(*(queues(" ".join(p.argv)) for p in _supervisor_programs()))
    served = set().union(*(queues(_command_text(s)) for s in _services().values()))
    assert wanted and wanted <= served, f"queues nobody consumes in compose: {wanted - served}"


def _urls_of(env: dict) -> list[tuple[str, str]]:
    """(setting, url) for every server address a PyDialer service is given."""
    urls = [(k, env[k]) for k in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL") if env.get(k)]
    for i, pbx in enumerate(json.loads(env["PBX_SERVERS"])):
        urls += [(f"PBX_SERVERS[{i}].ami", pbx["ami"]), (f"PBX_SERVERS[{i}].ari", pbx["ari"])]
    return urls


def test_every_host_a_service_is_given_is_a_reachable_compose_service() -> None:
    services = _resolved_services()
    for name, service in services.items():
        assert service.get("network_mode") != "host", (
            f"{name} uses network_mode: host: other services cannot reach it by name, nor it them")
    checked = 0
    for name, service in services.items():
        env = service.get("environment") or {}
        if "PBX_SERVERS" not in env:
            continue
        for setting, url in _urls_of(env):
            host = urlsplit(url).hostname
            assert host in services, f"{name}: {setting} points at {host!r}, which is not a compose service"
            checked += 1
    assert checked >= 5 * 6  # DATABASE/REDIS/CLICKHOUSE/AMI/ARI for every PyDialer service


def _conf_value(text: str, section: str, key: str) -> str | None:
    current = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and "]" in line:
            current = line[1:line.index("]")]
        elif current == section and "=" in line:
            k, _, v = line.partition("=")
            if k.strip() == key:
                return v.strip().lstrip(">").strip()
    return None


def _render_asterisk_config(service: dict, dest: Path) -> None:
    """Run the asterisk service's entrypoint as the container would (templates -> dest), then stop."""
    entrypoint = service["entrypoint"]
    mount = next(v for v in service["volumes"] if v.split(":")[1] == "/etc/pydialer-asterisk")
    script = entrypoint[-1].replace("/etc/pydialer-asterisk", str(ROOT / mount.split(":")[0]))
    env = {"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in service["environment"].items()},
           "PYDIALER_ASTERISK_TEMPLATES": str(ASTERISK_DIR), "PYDIALER_ASTERISK_ETC": str(dest)}
    result = subprocess.run([entrypoint[0], script, "true"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("overrides", [{}, {"AMI_SECRET": "ami-S3cret.x", "ARI_PASSWORD": "ari_pw~2"}])
def test_asterisk_gets_the_secrets_and_ports_the_services_use(tmp_path: Path, overrides: dict[str, str]) -> None:
    services = _resolved_services(overrides)
    _render_asterisk_config(services["asterisk"], tmp_path)
    manager, ari, http = ((tmp_path / f).read_text() for f in ("manager.conf", "ari.conf", "http.conf"))
    assert "@" not in _conf_value(manager, "pydialer", "secret") + _conf_value(ari, "pydialer", "password")
    for name, service in services.items():
        env = service.get("environment") or {}
        if "PBX_SERVERS" not in env:
            continue
        for pbx in json.loads(env["PBX_SERVERS"]):
            ami, ari_url = urlsplit(pbx["ami"]), urlsplit(pbx["ari"])
            assert _conf_value(manager, ami.username, "secret") == ami.password, f"{name}: AMI secret differs"
            assert _conf_value(manager, "general", "port") == str(ami.port)
            assert _conf_value(ari, ari_url.username, "password") == ari_url.password, f"{name}: ARI password differs"
            assert _conf_value(http, "general", "bindport") == str(ari_url.port)
    if overrides:
        assert _conf_value(manager, "pydialer", "secret") == overrides["AMI_SECRET"]


def test_asterisk_entrypoint_refuses_secrets_that_would_break_a_url_or_a_conf_line(tmp_path: Path) -> None:
    for bad in ("", "semi;colon", "at@sign", "new\nline"):
        service = _resolved_services()["asterisk"]
        service["environment"]["AMI_SECRET"] = bad
        with pytest.raises(AssertionError, match="AMI_SECRET"):
            _render_asterisk_config(service, tmp_path)


def test_asterisk_keeps_its_stock_config_and_loads_what_the_dialplan_uses() -> None:
    service = _services()["asterisk"]
    targets = [v.split(":")[1].rstrip("/") for v in service["volumes"]]
    assert "/etc/asterisk" not in targets, "mounting over /etc/asterisk hides the stock asterisk.conf, logger.conf ..."
    assert (ASTERISK_DIR / "docker-entrypoint.sh").is_file()
    for conf in ("rtp.conf", "logger.conf", "modules.conf"):
        assert (ASTERISK_DIR / conf).is_file(), f"{conf} missing"
    loaded = set(re.findall(r"^load\s*=>?\s*(\S+)", (ASTERISK_DIR / "modules.conf").read_text(), re.M))
    dialplan = (ASTERISK_DIR / "extensions.conf").read_text()
    # exten => <pattern>,<priority>,App(...)  /  same => <priority>[(label)],App(...)
    used = set(re.findall(r"^\s*exten\s*=>\s*[^,]+,[^,]+,\s*([A-Za-z]+)\(", dialplan, re.M))
    used |= set(re.findall(r"^\s*same\s*=>\s*[^,]+,\s*([A-Za-z]+)\(", dialplan, re.M))
    used |= set(re.findall(r"\$\{([A-Z_]+)\(", dialplan)) | set(re.findall(r"\b(CHANNEL|PJSIP_HEADER)\(", dialplan))
    assert {"AMD", "Dial", "Return", "WaitForSilence", "CHANNEL"} <= used  # the parser sees the dialplan
    unknown = used - DIALPLAN_BUILTINS - set(DIALPLAN_MODULES)
    assert not unknown, f"add these to DIALPLAN_MODULES / DIALPLAN_BUILTINS: {unknown}"
    missing = {DIALPLAN_MODULES[u] for u in used if u in DIALPLAN_MODULES} - loaded
    assert not missing, f"modules.conf (autoload = no) does not load {missing}"


def test_asterisk_publishes_sip_and_exactly_its_rtp_range() -> None:
    rtp = (ASTERISK_DIR / "rtp.conf").read_text()
    start, end = _conf_value(rtp, "general", "rtpstart"), _conf_value(rtp, "general", "rtpend")
    ports = _services()["asterisk"]["ports"]
    assert f"{start}-{end}:{start}-{end}/udp" in ports
    assert "5060:5060/udp" in ports
    assert not [p for p in ports if re.search(r"\b(5038|8088)\b", str(p))], "AMI/ARI must not be published"
