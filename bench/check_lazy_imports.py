"""`evidence --help` and `evidence import` load neither Datasette nor the mailer,
APScheduler or the evaluator; an unchanged re-import (`evidence import` of a file
already stored, the digest left as it is) loads neither the digest's own code (its
claims and certainty rules, citation styles, Jinja2 templates, the registry) nor the
HTTP stack of live runs (requests, urllib3, tenacity), nor the extractor. The CLI's
stand-ins for schedule.DEFAULT_CONFIG and pubmed.MAX_BATCH are the real ones. Exits 1
if not. Usage: python bench/check_lazy_imports.py"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this tree's pipeline, as the probes (run from ROOT) import it
HEAVY = ("datasette", "apscheduler", "pipeline.publish", "pipeline.mailer", "pipeline.schedule", "pipeline.evaluate")
# What an unchanged re-import must not load besides: the digest is written only when its
# inputs changed, PubMed is asked only by live runs, nothing is extracted.
REIMPORT_HEAVY = HEAVY + (
    "pipeline.digest", "pipeline.claims", "pipeline.certainty", "pipeline.registry", "pipeline.cite",
    "pipeline.csl", "jinja2", "citeproc", "pipeline.pubmed", "requests", "urllib3", "tenacity",
    "pipeline.extract", "pipeline.effects", "tqdm",
)

PROBE = """
import sys, time
t0 = time.perf_counter()
from pipeline.cli import cli
try:
    cli.main(ARGS, prog_name="evidence", standalone_mode=False)
except SystemExit:
    pass
tops = {m.split('.')[0] for m in HEAVY}
print(repr((time.perf_counter() - t0, sorted(m for m in sys.modules if m in HEAVY or (m.split('.')[0] in tops and not m.startswith('pipeline'))))), file=sys.stderr)
"""


def loaded(args: list[str], heavy: tuple[str, ...] = HEAVY) -> tuple[float, list[str], str]:
    """Run `evidence ARGS` in a fresh interpreter: its time, the heavy modules it loaded, its stderr."""
    code = f"HEAVY = {heavy!r}\nARGS = {args!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    seconds, mods = eval(lines[-1])
    heavy_loaded = sorted({m if m.startswith("pipeline") else m.split(".")[0] for m in mods})
    return seconds, heavy_loaded, "\n".join(lines[:-1])


def reimport(folder: Path) -> tuple[float, list[str], str]:
    """`evidence import` of the bundled snapshot into a new database (in its own process),
    then the same file again, probed."""
    from pipeline.sources import SNAPSHOT_XML

    args = ["import", str(SNAPSHOT_XML), "--db", str(folder / "e.db")]
    subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, check=True)
    return loaded(args, REIMPORT_HEAVY)


def main() -> int:
    ok = True
    for args in (["--help"], ["import", "--help"]):
        seconds, heavy, _ = loaded(args)
        print(f"evidence {' '.join(args)}: {seconds:.2f}s, heavy modules loaded: {heavy or 'none'}")
        ok &= not heavy
    with tempfile.TemporaryDirectory() as tmp:
        seconds, heavy, log = reimport(Path(tmp))
    unchanged = "digest unchanged" in log
    print(f"evidence import (unchanged file, digest left as it is: {unchanged}): {seconds:.2f}s, "
          f"heavy modules loaded: {heavy or 'none'}")
    ok &= unchanged and not heavy
    from pipeline import cli, pubmed, schedule

    same = cli.schedule_module.DEFAULT_CONFIG == schedule.DEFAULT_CONFIG
    print(f"schedule --config default matches pipeline.schedule.DEFAULT_CONFIG: {same}")
    batch = cli.pubmed.MAX_BATCH == pubmed.MAX_BATCH
    print(f"run --batch-size bound matches pipeline.pubmed.MAX_BATCH: {batch}")
    return 0 if ok and same and batch else 1


if __name__ == "__main__":
    sys.exit(main())
