"""Extraction speed against an older extractor, on the same records: a like-for-like ratio.

Usage: python bench/bench_extract_versus.py [--rev REV] [--rounds R]

The older extractor is checked out from git (`--rev`, default the commit whose
extractor 1.3 issue 11 measured at 223 records/s) into a temporary worktree. Both
extract today's bench corpus (every bundled efetch document: pipeline/snapshot/
and tests/data/*/) in fresh processes, taking turns, R rounds (default 3); each
process makes three passes over the distinct records and reports CPU time per
pass (the first pass pays for patterns compiled on first use). The ratio is the
median of this tree's rates over the median of the older one's.
"""

from __future__ import annotations

import argparse
import glob
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ISSUE_11_BASELINE = "2f4b18c^"  # the last commit of extractor 1.3

# Run in a child process with the tree to time first on sys.path.
TIMER = """
import pickle, sys, time
sys.path.insert(0, sys.argv[1])
from pipeline.extract import extract, Record
corpus = pickle.load(open(sys.argv[2], "rb"))
rates = []
for _ in range(3):
    t = time.process_time()
    for title, abstract, types, mesh in corpus:
        extract(Record(title=title, abstract=abstract, publication_types=types, mesh=mesh))
    rates.append(len(corpus) / (time.process_time() - t))
print(" ".join(f"{r:.1f}" for r in rates))
"""


def corpus(path: Path) -> int:
    """Today's bundled records as plain tuples, so both extractors read the same text."""
    sys.path.insert(0, str(ROOT))
    from pipeline.parse import MalformedRecord, parse

    records = []
    files = sorted(glob.glob(str(ROOT / "tests" / "data" / "*" / "efetch.xml"))) + [str(ROOT / "pipeline" / "snapshot" / "efetch.xml")]
    for f in files:
        for s in parse(f):
            if isinstance(s, MalformedRecord) or not (s.abstract or s.title):
                continue
            records.append((s.title or "", s.abstract or "", list(s.publication_types or []), list(s.mesh or [])))
    path.write_bytes(pickle.dumps(records))
    return len(records)


def rates(tree: Path, data: Path) -> list[float]:
    out = subprocess.run([sys.executable, "-c", TIMER, str(tree), str(data)], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default=ISSUE_11_BASELINE, help="the older extractor's commit (default: extractor 1.3)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old, data = Path(tmp) / "old", Path(tmp) / "corpus.pkl"
        n = corpus(data)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.rev], check=True)
        try:
            got: dict[str, list[float]] = {"older": [], "this tree": []}
            for r in range(args.rounds):
                for name, tree in (("older", old), ("this tree", ROOT)):
                    got[name] += rates(tree, data)
                    print(f"round {r + 1}, {name}: {' '.join(f'{x:.0f}' for x in got[name][-3:])} records/s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    med = {k: statistics.median(v) for k, v in got.items()}
    print(f"\n{n} records, {args.rounds} rounds x 3 passes, CPU time, one core")
    print("| extractor | records/s (median, min-max) |\n|---|---:|")
    for name, v in got.items():
        print(f"| {name} ({args.rev if name == 'older' else 'working tree'}) | {med[name]:.0f} ({min(v):.0f}-{max(v):.0f}) |")
    print(f"\nratio: {med['this tree'] / med['older']:.2f}x")


if __name__ == "__main__":
    main()
