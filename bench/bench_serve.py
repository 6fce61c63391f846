"""Serving 100,000 studies: Datasette's pages and queries, and `evidence digest`, timed.

Usage: python bench/bench_serve.py [--studies 100000] [--requests 20] [--write-doc]
       python bench/bench_serve.py --pages search [--db bench/out/serve/evidence.db]

The database: `evidence run --source snapshot` (the bundled records, extracted, with
the claims and the digest), whose studies and effects are then cloned in SQL under
fresh PMIDs up to --studies (the extractor's output copied, not recomputed: this
measures serving, not extraction), and the full-text index rebuilt. Then:

- `evidence digest` twice, timed whole: the first renders every cited reference
  (and fills the citation cache), the second is what a later digest costs;
- `evidence serve` on a loopback port, and each page below requested --requests
  times after one warm-up request, p50 and p95 of the wall time per request:
  the home page, /digest, the studies table with its default facets (checked
  for "facet timed out"), full-text search on the studies table, and every
  canned query in db/metadata.yml with example parameters.

Results go to bench/out/serve-N.json, and with --write-doc to the "Serving" section
of docs/performance.md (the rest of the file is kept).

--pages KIND times only the pages of that kind (page, search or canned); --db PATH
serves a database an earlier run built (no build, no digest timed): a quick look
at some rows, never written to the doc.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "performance.md"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# Example parameters for the canned queries that take some.
PARAMS = {
    "evidence_for_claim": {"claim_id": "trigger-point-pain"},
    "rct_effects": {"outcome": "pain_intensity"},
    "new_since": {"since": "2020-01-01"},
    "search_abstracts": {"q": "trigger point pain"},
}
TARGETS = {"search": 100, "canned": 250, "page": 300}  # p95, ms
DIGEST_SECONDS = 10


def build(n: int, db: Path) -> None:
    """The snapshot's extracted studies cloned to `n` in SQL, with their effects."""
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    subprocess.run([sys.executable, "-m", "pipeline", "-q", "run", "--source", "snapshot", "--db", str(db)],
                   cwd=ROOT, check=True, capture_output=True)
    conn = sqlite3.connect(db)
    cols = [r[1] for r in conn.execute("pragma table_info(studies)")]
    ecols = [r[1] for r in conn.execute("pragma table_info(effects)") if r[1] != "id"]
    base = conn.execute("select count(*) from studies").fetchone()[0]
    copies = -(-n // base) - 1
    sel = ", ".join("cast(cast(pmid as integer) + :off as text)" if c == "pmid" else f"[{c}]" for c in cols)
    esel = ", ".join("cast(cast(pmid as integer) + :off as text)" if c == "pmid" else f"[{c}]" for c in ecols)
    with conn:
        for k in range(1, copies + 1):
            off = 60_000_000 + k * 100_000
            limit = min(base, n - base * k)
            conn.execute(f"insert into studies ({', '.join(f'[{c}]' for c in cols)}) "
                         f"select {sel} from studies where cast(pmid as integer) < 60000000 "
                         f"order by pmid limit {limit}", {"off": off})
            conn.execute(f"insert into effects ({', '.join(f'[{c}]' for c in ecols)}) "
                         f"select {esel} from effects where cast(pmid as integer) < 60000000 "
                         f"and pmid in (select pmid from studies where cast(pmid as integer) < 60000000 "
                         f"order by pmid limit {limit})", {"off": off})
        conn.execute("insert into studies_fts (studies_fts) values ('rebuild')")
    conn.execute("vacuum")
    conn.close()


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def pages() -> list[tuple[str, str, str]]:
    """(kind, label, path) of every page measured."""
    import yaml

    meta = yaml.safe_load((ROOT / "db" / "metadata.yml").read_text(encoding="utf-8"))
    queries = meta["databases"]["evidence"].get("queries", {})
    out = [
        ("page", "home page `/`", "/"),
        ("page", "`/digest`", "/digest"),
        ("page", "`/evidence/studies` (default facets)", "/evidence/studies"),
        ("search", "full-text search `/evidence/studies?_search=trigger+point`", "/evidence/studies?_search=trigger+point"),
        ("search", "full-text search, two words and a stem (`needling headaches`)",
         "/evidence/studies?_search=needling+headaches"),
    ]
    for name in queries:
        params = PARAMS.get(name, {})
        out.append(("canned", f"canned query `{name}`", f"/evidence/{name}" + (f"?{urlencode(params)}" if params else "")))
    return out


def measure(base: str, path: str, repeat: int) -> dict:
    import requests

    session = requests.Session()
    first = session.get(base + path, timeout=60)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = session.get(base + path, timeout=60)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "status": r.status_code, "p50": statistics.median(times), "p95": p95,
        "timed_out": "timed out" in first.text.lower() or "timed out" in r.text.lower(),
        "facet_timed_out": "facet timed out" in r.text.lower() or "facets_timed_out" in r.text,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--pages", choices=sorted(TARGETS), help="time only the pages of this kind")
    parser.add_argument("--db", type=Path, help="serve this database (built by an earlier run) as it is")
    args = parser.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    if args.db or args.pages:
        if args.write_doc:
            parser.error("--write-doc takes a whole run (no --pages, no --db)")
        return quick(args, log)

    from serving import evidence_serve_args, running

    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "serve"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "evidence.db"
    t0 = time.perf_counter()
    build(args.studies, db)
    n = sqlite3.connect(db).execute("select count(*) from studies").fetchone()[0]
    log(f"built {n:,} studies in {time.perf_counter() - t0:.0f}s")
    digest_cmd = [sys.executable, "-m", "pipeline", "-q", "digest", "--db", str(db)]
    digest_cold = timed(digest_cmd)
    log(f"evidence digest (cold citation cache) {digest_cold:.1f}s")
    digest_warm = [timed(digest_cmd)]
    log(f"evidence digest (warm) {min(digest_warm):.1f}s")
    cited = sqlite3.connect(db).execute("select count(distinct pmid) from citations").fetchone()[0]

    results = []
    load_before = os.getloadavg()
    with running(lambda port: evidence_serve_args(db, port)) as (_, base):
        for kind, label, path in pages():
            r = measure(base, path, args.requests)
            r.update(kind=kind, label=label, path=path)
            ok = r["status"] == 200 and r["p95"] < TARGETS[kind] and not r["timed_out"]
            r["met"] = ok
            results.append(r)
            log(f"{label}: {r['status']} p50 {r['p50']:.0f} ms p95 {r['p95']:.0f} ms{' TIMED OUT' if r['timed_out'] else ''}")
    data = {"studies": n, "cited": cited, "digest_cold": digest_cold, "digest_warm": min(digest_warm),
            "requests": args.requests, "pages": results, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()]}
    (OUT / f"serve-{n}.json").write_text(json.dumps(data, indent=1))
    table = report(data)
    print(table)
    if args.write_doc:
        write_section(table)
        log(f"wrote {DOC}")


def quick(args, log) -> None:
    """Some pages timed as main() times them, on a database built now or given."""
    from serving import evidence_serve_args, running

    db = args.db
    if db is None:
        db = OUT / "serve" / "evidence.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        build(args.studies, db)
    n = sqlite3.connect(db).execute("select count(*) from studies").fetchone()[0]
    log(f"{n:,} studies in {db}; load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with running(lambda port: evidence_serve_args(db, port)) as (_, base):
        for kind, label, path in pages():
            if args.pages and kind != args.pages:
                continue
            r = measure(base, path, args.requests)
            met = r["status"] == 200 and r["p95"] < TARGETS[kind] and not r["timed_out"]
            print(f"{label}: {r['status']} p50 {r['p50']:.0f} ms p95 {r['p95']:.0f} ms (target p95 < {TARGETS[kind]}: "
                  f"{'met' if met else 'NOT met'}){' FACET TIMED OUT' if r['facet_timed_out'] else ''}", flush=True)
    log(f"load average after {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


def report(data: dict) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_e2e import machine

    m = machine()
    lines = [
        (f"Run {data['date']} on {m['cpu']}, {m['cores']} cores; Python {m['python']}, SQLite {m['sqlite']}; "
         f"code at {m['commit']}. `python bench/bench_serve.py`: {data['studies']:,} studies (the snapshot's "
         f"extracted studies cloned in SQL), {data['cited']:,} of them cited by the digest; each page requested "
         f"{data['requests']}× after one warm-up request, over HTTP on loopback. Load average (1, 5, 15 min) "
         f"{' / '.join(map(str, data.get('load', [])))} before the pages, "
         f"{' / '.join(map(str, data.get('load_after', [])))} after (other work on the machine counts)."),
        "",
        "| what | target | p50 ms | p95 ms | status | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in data["pages"]:
        note = " (facet timed out)" if r["facet_timed_out"] else " (timed out)" if r["timed_out"] else ""
        lines.append(f"| {r['label']} | p95 < {TARGETS[r['kind']]} | {r['p50']:.0f} | {r['p95']:.0f} | "
                     f"{r['status']}{note} | {'yes' if r['met'] else '**no**'} |")
    lines.append(f"| `evidence digest`, citation cache cold (first digest) | < {DIGEST_SECONDS} s | "
                 f"{data['digest_cold']:.1f} s | | | {'yes' if data['digest_cold'] < DIGEST_SECONDS else '**no**'} |")
    lines.append(f"| `evidence digest`, later (citations cached) | < {DIGEST_SECONDS} s | "
                 f"{data['digest_warm']:.1f} s | | | {'yes' if data['digest_warm'] < DIGEST_SECONDS else '**no**'} |")
    met = sum(r["met"] for r in data["pages"]) + (data["digest_warm"] < DIGEST_SECONDS)
    lines += ["", f"{met} of {len(data['pages']) + 1} serving targets met (the digest counted once, warm)."]
    return "\n".join(lines)


def write_section(table: str) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    section = f"## Serving 100,000 studies\n\n{table}\n"
    if re.search(r"^## Serving", text, flags=re.MULTILINE):
        text = re.sub(r"^## Serving.*?(?=^## |\Z)", section + "\n", text, flags=re.DOTALL | re.MULTILINE)
    else:
        text = text.rstrip() + "\n\n" + section
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
