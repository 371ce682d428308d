"""``python -m telephony.simulator`` as a process: bad scenario files, start, SIGTERM, restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _spawn(*args: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "telephony.simulator", "--data-dir", str(data_dir), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_malformed_scenario_file_is_rejected_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"timing": {"talk_s": {"dist": "foo"}}}))
    proc = _spawn("--ami-port", "0", "--ari-port", "0", "--scenario", str(bad), data_dir=tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "timing.talk_s.dist: unknown distribution 'foo'" in err
    bad.write_text("{not json")
    proc = _spawn("--scenario", str(bad), data_dir=tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "cannot read" in err


def test_start_stop_and_restart_on_the_same_ports(tmp_path: Path) -> None:
    proc = _spawn("--ami-port", "0", "--ari-port", "0", "--seed", "3", data_dir=tmp_path)
    assert proc.stdout is not None
    ports = json.loads(proc.stdout.readline())
    client = socket.create_connection(("127.0.0.1", ports["ami_port"]), timeout=5)
    assert client.recv(100).startswith(b"Asterisk Call Manager/")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert client.recv(100) == b""  # the session was closed, not left hanging
    client.close()
    again = _spawn("--ami-port", str(ports["ami_port"]), "--ari-port", str(ports["ari_port"]), data_dir=tmp_path)
    try:
        assert again.stdout is not None
        assert json.loads(again.stdout.readline()) == ports
        s = socket.create_connection(("127.0.0.1", ports["ami_port"]), timeout=5)
        assert s.recv(100).startswith(b"Asterisk Call Manager/")
        s.close()
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(15)
