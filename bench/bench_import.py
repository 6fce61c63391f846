"""`make bench`: what users run, end to end, and (with --stages) the load stage alone.

Usage: python bench/bench_import.py [--records N] [--repeat R] [--no-5n] [--profile] [--no-doc]
       python bench/bench_import.py --no-doc --reimport-only [--records N] [--repeat R]
       python bench/bench_import.py --stages [--records N] [--write-readme]

Without --stages this is bench/bench_e2e.py (its docstring says what it measures):
`evidence import` timed whole at N (default 20,000, or $BENCH_N) and 5N against a
bare lxml pass, written to docs/performance.md unless --no-doc.

--stages: import speed of the load stage alone on realistic PubMed records (default
20,000), against a bare lxml pass.

The records are the bundled snapshot's, repeated under new PMIDs (so their
sizes, markup and abstracts are real). Each phase runs in its own process so
its peak memory (max RSS) is its own:

- floor: lxml iterparse yielding each PubmedArticle, freeing it (nothing else);
- import: `evidence import` path (parse, hash, store, FTS) into a new database;
- reimport: the same file again, every record unchanged;
- extract: the extractor over every stored study (new records go through it
  once, inside `run` and `import`).

With --write-readme the table replaces the one under "## Benchmarks" in README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def make_records(n: int, path: Path) -> None:
    """Write an efetch document of `n` records cloned from the snapshot with fresh PMIDs."""
    from bench_e2e import record, snapshot_records

    head, records = snapshot_records()
    with path.open("w", encoding="utf-8") as f:
        f.write(head + "<PubmedArticleSet>\n")
        for i in range(n):
            f.write(record(records, i, 50_000_000 + i) + "\n")
        f.write("</PubmedArticleSet>\n")


PHASES = {
    "floor": """
from lxml import etree
n = 0
for _, el in etree.iterparse(PATH, events=("end",), tag="PubmedArticle", load_dtd=False, no_network=True, resolve_entities=False):
    n += 1
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
""",
    "import": """
from pipeline import store, sources
from pipeline.update import load
db = store.open_db(DB)
r = load(db, sources.file_source([PATH]), command="import")
assert r.ok and r.counts.new == N, (r.error, r.counts)
""",
    "reimport": """
from pipeline import store, sources
from pipeline.update import load
db = store.open_db(DB)
before = db.execute("select count(*), max(updated_at) from studies").fetchone()
r = load(db, sources.file_source([PATH]), command="import")
assert r.ok and r.counts.unchanged == N and r.counts.new == r.counts.updated == 0, r.counts
assert db.execute("select count(*), max(updated_at) from studies").fetchone() == before
""",
    "extract": """
from pipeline import store, update
db = store.open_db(DB)
n = update.extract_pending(db, everything=True)
assert n == N, n
""",
}


def run_phase(name: str, path: Path, db: Path, n: int) -> dict:
    code = (
        "import resource, time, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        f"PATH, DB, N = {str(path)!r}, {str(db)!r}, {n}\n"
        "t0 = time.perf_counter()\n"
        + PHASES[name]
        + "\nelapsed = time.perf_counter() - t0\n"
        "import json; print(json.dumps({'seconds': elapsed, 'max_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    argv = sys.argv[1:]
    if "--stages" not in argv:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_e2e

        if "--no-doc" in argv:
            argv.remove("--no-doc")
        elif "--write-doc" not in argv:
            argv.append("--write-doc")
        return bench_e2e.main(argv)
    argv.remove("--stages")
    stages(argv)


def stages(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Import speed of the load stage alone, against a bare lxml pass.")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase; the best is kept")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"records-{args.records}.xml"
    if not path.exists():
        make_records(args.records, path)
    results = {}
    for name in ("floor", "import", "reimport", "extract"):
        best = None
        for _ in range(args.repeat):
            db = OUT / "bench.db"
            if name == "import":
                for p in OUT.glob("bench.db*"):
                    p.unlink()
            r = run_phase(name, path, db, args.records)
            if best is None or r["seconds"] < best["seconds"]:
                best = r
        results[name] = best
        print(f"{name}: {best['seconds']:.2f}s", file=sys.stderr)

    floor = results["floor"]["seconds"]
    size_mb = path.stat().st_size / 1e6
    lines = [
        f"{args.records:,} records ({size_mb:.0f} MB of efetch XML), best of {args.repeat}, "
        f"Python {platform.python_version()} on {platform.machine()}, {time.strftime('%Y-%m-%d')}:",
        "",
        "| phase | seconds | records/s | × floor | peak memory (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    labels = {
        "floor": "lxml iterparse alone (the floor)",
        "import": "full import into a new database",
        "reimport": "unchanged re-import (writes nothing)",
        "extract": "extraction of every study (`evidence extract --all`)",
    }
    for name, r in results.items():
        lines.append(
            f"| {labels[name]} | {r['seconds']:.2f} | {args.records / r['seconds']:,.0f} | "
            f"{r['seconds'] / floor:.2f} | {r['max_rss_mb']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.write_readme:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        head, _, tail = text.partition("## Benchmarks\n")
        rest = tail.split("\n## ", 1)
        after = ("\n## " + rest[1]) if len(rest) > 1 else ""
        readme.write_text(
            f"{head}## Benchmarks\n\nMeasured by `make bench` (`bench/bench_import.py`).\n\n{table}\n{after}",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
