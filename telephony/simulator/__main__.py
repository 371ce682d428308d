"""``python -m telephony.simulator --ami-port 5038 --ari-port 8088 --scenario FILE [--seed N]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from core.exceptions import ConfigError

from .runner import Simulator, SimulatorConfig
from .scenario import Scenario, ScenarioError

logger = logging.getLogger("telephony.simulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m telephony.simulator", description="Asterisk 20 AMI/ARI simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--ami-port", type=int, default=5038)
    p.add_argument("--ari-port", type=int, default=8088)
    p.add_argument("--scenario", type=Path, help="scenario JSON (defaults built in)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ami-user", default="pydialer")
    p.add_argument("--ami-secret", default="pydialer")
    p.add_argument("--ari-user", default="pydialer")
    p.add_argument("--ari-password", default="pydialer")
    p.add_argument("--data-dir", type=Path, help="TTS cache location (default: PYDIALER data dir/simulator)")
    p.add_argument("--asterisk-version", default="20.10.0", help="reported by ARI /asterisk/info and CLI")
    p.add_argument("--ami-version", default="9.0.0", help="AMI banner version (Asterisk 20: 9.0.0)")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def load_scenario(path: Path | None) -> Scenario:
    if path is None:
        return Scenario.default()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ScenarioError("$", f"cannot read {path}: {exc}") from exc
    return Scenario.parse(data)


async def _run(args: argparse.Namespace) -> None:
    scenario = load_scenario(args.scenario)
    data_dir = args.data_dir
    if data_dir is None:
        from core.config import Settings

        data_dir = Settings.from_env().data_dir / "simulator"
    sim = Simulator(scenario, SimulatorConfig(
        host=args.host, ami_port=args.ami_port, ari_port=args.ari_port, ami_user=args.ami_user,
        ami_secret=args.ami_secret, ari_user=args.ari_user, ari_password=args.ari_password, seed=args.seed,
        data_dir=data_dir, asterisk_version=args.asterisk_version, ami_version=args.ami_version))
    await sim.start()
    print(json.dumps({"ami_port": sim.ami_port, "ari_port": sim.ari_port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_run(args))
    except ScenarioError as exc:
        print(f"scenario error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
