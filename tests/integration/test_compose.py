"""docker-compose.yml cannot run here (no Docker engine), so it is validated and cross-checked."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

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
