"""`make bench`: run every benchmark script under bench/ and print one JSON document.

Each script is run in its own process (``python -m bench.<name>``) and must print a JSON object
on its last stdout line. ``python -m bench --only pacing,import`` runs a subset;
``--list`` shows what exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHES = {"__init__", "__main__", "common"}


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_BENCHES and not p.stem.startswith("_"))


def run_one(name: str, extra: list[str]) -> dict[str, object]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *extra], capture_output=True, text=True, cwd=HERE.parent, check=False
    )
    elapsed = round(time.monotonic() - start, 1)
    sys.stderr.write(proc.stderr[-4000:])
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        return {"bench": name, "ok": False, "exit": proc.returncode, "wall_s": elapsed, "tail": proc.stdout[-2000:]}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"bench": name, "ok": False, "error": "last line is not JSON", "tail": lines[-1][:2000]}
    return {"bench": name, "ok": True, "wall_s": elapsed, "result": result}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", help="comma-separated bench names")
    parser.add_argument("--list", action="store_true")
    args, extra = parser.parse_known_args()
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown bench(es): {', '.join(unknown)}; known: {', '.join(names)}")
        names = wanted
    results = []
    for name in names:
        sys.stderr.write(f"== bench {name}\n")
        results.append(run_one(name, extra))
    print(json.dumps({"benches": results}, indent=2, default=str))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
