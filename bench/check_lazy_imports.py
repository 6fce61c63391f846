"""`evidence --help` and `evidence import` load neither Datasette nor the mailer,
APScheduler or the evaluator; the CLI's stand-in for schedule.DEFAULT_CONFIG is
the real one. Exits 1 if not. Usage: python bench/check_lazy_imports.py"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("datasette", "apscheduler", "pipeline.publish", "pipeline.mailer", "pipeline.schedule", "pipeline.evaluate")

PROBE = """
import sys, time
t0 = time.perf_counter()
from pipeline.cli import cli
try:
    cli.main(ARGS, prog_name="evidence", standalone_mode=False)
except SystemExit:
    pass
print(repr((time.perf_counter() - t0, sorted(m for m in sys.modules if m.split('.')[0] in ('datasette', 'apscheduler') or m in HEAVY))), file=sys.stderr)
"""


def loaded(args: list[str]) -> tuple[float, list[str]]:
    code = f"HEAVY = {HEAVY!r}\nARGS = {args!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return eval(out.stderr.strip().splitlines()[-1])


def main() -> int:
    ok = True
    for args in (["--help"], ["import", "--help"]):
        seconds, mods = loaded(args)
        heavy = sorted({m if m.startswith("pipeline") else m.split(".")[0] for m in mods})
        print(f"evidence {' '.join(args)}: {seconds:.2f}s, heavy modules loaded: {heavy or 'none'}")
        ok &= not heavy
    from pipeline import cli, schedule

    same = cli.schedule_module.DEFAULT_CONFIG == schedule.DEFAULT_CONFIG
    print(f"schedule --config default matches pipeline.schedule.DEFAULT_CONFIG: {same}")
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
