"""Extraction alone: `extract.extract(Record)` over ~5,000 real abstracts, in records/s.

Usage: python bench/bench_extract.py [--records N] [--repeat R] [--profile] [--top K]

The records are every bundled efetch document's (pipeline/snapshot/efetch.xml and
tests/data/*/efetch.xml), parsed once outside the timing and repeated in turn up to
N (default 5,000). `extract()` clears the per-abstract caches itself (the outcome-term
cache and the rule engine's remembered matches), so a repeated abstract costs what a
new one does; this script clears them too before each record, in case a cache is
added that extract() does not know of. Interpreter start-up, imports and rule loading
are outside the timing: this is the extractor's own throughput on one core.

Each of R runs (default 3) is timed whole, in wall-clock and in CPU time (the CPU
figure is steadier on a shared machine); the best and median are reported. Before
them, one pass over the distinct records is timed as the process's first ("first
pass"): what remembers across abstracts (the tokens text.LiteralIndex has seen, the
alternatives text.Specialised has compiled) starts empty there. With
--profile, one more run goes under cProfile and the top functions by own time and by
cumulative time are printed (the profiler slows Python-heavy code: read the shares).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import glob
import io
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import effects, extract, rules, terms
from pipeline.parse import MalformedRecord, parse


def corpus() -> list[extract.Record]:
    """Every bundled record with a title or an abstract, once."""
    files = [str(ROOT / "pipeline" / "snapshot" / "efetch.xml")] + sorted(glob.glob(str(ROOT / "tests" / "data" / "*" / "efetch.xml")))
    out = []
    for f in files:
        for s in parse(f):
            if isinstance(s, MalformedRecord) or not (s.abstract or s.title):
                continue
            out.append(extract.Record(title=s.title or "", abstract=s.abstract or "",
                                      publication_types=list(s.publication_types or []), mesh=list(s.mesh or [])))
    return out


def clear_caches() -> None:
    """What extract() clears for each abstract, cleared here as well."""
    terms.outcome_spans.cache_clear()
    rules.default().forget()
    effects.RULES.forget()


def run(records: list[extract.Record]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to extract every record."""
    t0, c0 = time.perf_counter(), time.process_time()
    for r in records:
        clear_caches()
        extract.extract(dataclasses.replace(r))  # a fresh record: nothing it computed last time is kept
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    base = corpus()
    records = [base[i % len(base)] for i in range(args.records)]
    chars = sum(len(r.abstract) for r in records)
    first = run(base)  # the first pass, then warmed up: compiled regexes, lazily built tables
    runs = [run(records) for _ in range(args.repeat)]
    print(f"{len(base)} distinct records, repeated to {len(records)} ({chars / len(records):.0f} abstract chars on average)")
    print(f"first pass over the {len(base)} distinct records: {len(base) / first[0]:.0f} records/s wall, "
          f"{len(base) / first[1]:.0f} CPU")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; load average {os.getloadavg()[0]:.2f}")
    for i, what in ((0, "wall"), (1, "CPU")):
        times = [r[i] for r in runs]
        print(f"{what:4s} seconds: {', '.join(f'{t:.2f}' for t in times)}; records/s: best {len(records) / min(times):.0f}, "
              f"median {len(records) / statistics.median(times):.0f}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(records)
        prof.disable()
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
            print(f"\n--- profile, by {key} ---")
            print(buf.getvalue().split("\n\n", 1)[-1].strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
