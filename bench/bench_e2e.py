"""What users run, timed whole: `evidence import` end to end against a bare lxml pass.

Usage: python bench/bench_import.py [--records N] [--repeat R] [--no-5n] [--profile]
       (make bench; make bench N=5000)
       python bench/bench_import.py --no-doc --reimport-only [--repeat R]   (the floor and
       the unchanged re-import alone, taking turns; printed only)

Every measurement is the real command in its own process,
`python -m pipeline import FILE --db DB`, timed from start to exit (interpreter
start-up, the load, hashing, extraction, claims and the digest included); its peak
memory is that process's max RSS, from os.wait4. The records are the bundled
snapshot's, cloned under fresh PMIDs (so their sizes, markup and abstracts are
real). In one run, each R times, interleaved so a busy machine slows them alike:

- floor:        `python -c "lxml iterparse of FILE, freeing each record"` (the same file);
- first import: N records into a new database;
- re-import:    the same file again into that database (nothing changed);
- incremental:  the file re-saved with 1% of records revised (title, abstract,
                DateRevised) and 1% new, into a copy of the first import's database;
- delta only:   a file of just those 2% (changed and new), likewise;
- and once:     the first import of 5N records, for peak memory at 5N (with its floor).

Rows written are counted by diffing every table (by rowid) before and after, outside
the timed command. Results go to docs/performance.md (with --write-doc) and
bench/out/e2e-N.json; ratios are to the median floor of the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "performance.md"
sys.path.insert(0, str(ROOT))
BASE_PMID = 50_000_000
REVISED_DATE = "<DateRevised><Year>2026</Year><Month>11</Month><Day>30</Day></DateRevised>"

FLOOR = """
import sys
from lxml import etree
n = 0
for _, el in etree.iterparse(sys.argv[1], events=("end",), tag="PubmedArticle", load_dtd=False, no_network=True, resolve_entities=False):
    n += 1
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
print(n)
"""


# --- the records --------------------------------------------------------------


def snapshot_records() -> tuple[str, list[str]]:
    from pipeline.sources import SNAPSHOT_XML

    text = SNAPSHOT_XML.read_text(encoding="utf-8")
    head, rest = text.split("<PubmedArticleSet>", 1)
    body = rest.rsplit("</PubmedArticleSet>", 1)[0]
    return head, re.findall(r"<PubmedArticle>.*?</PubmedArticle>", body, flags=re.S)


def record(records: list[str], i: int, pmid: int) -> str:
    rec = records[i % len(records)]
    old = re.search(r'<PMID Version="1">(\d+)</PMID>', rec).group(1)
    return rec.replace(f">{old}<", f">{pmid}<")


def revise(rec: str, i: int) -> str:
    """A real revision: a new title, a sentence added to the abstract, a later DateRevised."""
    out, k = re.subn(r"(<ArticleTitle>)(.*?)(</ArticleTitle>)", rf"\1\2 (revised {i})\3", rec, count=1, flags=re.S)
    assert k == 1
    out, k = re.subn(
        r"(<AbstractText[^>]*>)(.*?)(</AbstractText>)",
        rf"\1\2 Corrected in revision {i}: one participant was re-assigned.\3",
        out, count=1, flags=re.S,
    )  # k == 0: a record without an abstract (a few in the snapshot); its title changes
    if "<DateRevised>" in out:
        out = re.sub(r"<DateRevised>.*?</DateRevised>", REVISED_DATE, out, count=1, flags=re.S)
    else:
        out = out.replace("</MedlineCitation>", REVISED_DATE + "</MedlineCitation>", 1)
    return out


def write_doc(path: Path, head: str, recs: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(head + "<PubmedArticleSet>\n")
        for r in recs:
            f.write(r + "\n")
        f.write("</PubmedArticleSet>\n")
    tmp.replace(path)


def make_files(n: int) -> dict[str, Path]:
    """base (N records), incr (base re-saved: 1% revised, 1% new), delta (just those 2%).

    Written by a child process: a child's max RSS (from wait4) includes its parent's
    memory at the fork, so the measuring process must stay small."""
    paths = {k: OUT / f"{k}-{n}.xml" for k in ("base", "incr", "delta")}
    if not all(p.exists() for p in paths.values()):
        subprocess.run([sys.executable, __file__, "--make-files", str(n)], cwd=ROOT, check=True)
    return paths


def _make_files(n: int) -> None:
    paths = {k: OUT / f"{k}-{n}.xml" for k in ("base", "incr", "delta")}
    head, records = snapshot_records()
    base = [record(records, i, BASE_PMID + i) for i in range(n)]
    step = 100  # 1%
    changed = {i: revise(base[i], i) for i in range(step // 2, n, step)}
    new = [record(records, n + j, BASE_PMID + n + j) for j in range(max(1, n // step))]
    write_doc(paths["base"], head, base)
    write_doc(paths["incr"], head, [changed.get(i, r) for i, r in enumerate(base)] + new)
    write_doc(paths["delta"], head, list(changed.values()) + new)


# --- measuring ------------------------------------------------------------------


def timed(cmd: list[str], cwd: Path) -> dict:
    """Run `cmd`; its wall time, peak RSS (MB) and blocks written, from wait4."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes in the same way communicate() would, then reap with wait4 for rusage.
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{err.decode()[-3000:]}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if ru.ru_maxrss <= own:  # the child's figure may be this process's, inherited at the fork
        what = "the floor" if cmd[1] == "-c" else " ".join(map(str, cmd[1:4]))
        print(f"note: peak RSS of {what} ({ru.ru_maxrss // 1024} MB) is not above the benchmark's "
              f"own ({own // 1024} MB): an upper bound only", file=sys.stderr)
    return {
        "seconds": seconds,
        "max_rss_mb": ru.ru_maxrss / 1024,
        "written_mb": ru.ru_oublock * 512 / 1e6,
        "stdout": out.decode()[-2000:],
    }


def import_cmd(path: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline", "import", str(path), "--db", str(db)]


def fresh_dir(name: str) -> Path:
    d = OUT / "runs" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def copy_db(src: Path, dst_dir: Path) -> Path:
    for p in src.parent.glob(src.name + "*"):
        if not p.name.endswith(".lock"):
            shutil.copy2(p, dst_dir / p.name)
    return dst_dir / src.name


def table_state(db: Path) -> dict[str, dict]:
    """Per table: rowid → hash of the row (or a multiset of row hashes without rowids)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    state: dict[str, dict] = {}
    names = [r[0] for r in conn.execute(
        "select name from sqlite_master where type = 'table' and sql not like 'CREATE VIRTUAL%'")]
    for name in names:
        rows: dict = {}
        try:
            cur = conn.execute(f"select rowid, * from [{name}]")
            for r in cur:
                rows[r[0]] = hashlib.blake2b(repr(r[1:]).encode(), digest_size=12).digest()
        except sqlite3.OperationalError:  # WITHOUT ROWID
            for r in conn.execute(f"select * from [{name}]"):
                h = hashlib.blake2b(repr(r).encode(), digest_size=12).digest()
                rows[h] = h
        state[name] = rows
    conn.close()
    return state


def save_state(db: Path) -> Path:
    """`table_state(db)` written to a file by a child process: the measuring process
    stays small (a child's max RSS includes its parent's memory at the fork)."""
    out = db.parent / f".state-{time.monotonic_ns()}.pickle"
    subprocess.run([sys.executable, __file__, "--state", str(db), str(out)], cwd=ROOT, check=True)
    return out


def diff_states(before: Path | None, after: Path) -> dict[str, int]:
    """`rows_written` between two saved states, computed in a child process."""
    p = subprocess.run([sys.executable, __file__, "--diff", str(before or ""), str(after)],
                       cwd=ROOT, check=True, capture_output=True, text=True)
    for f in (before, after):
        if f:
            f.unlink(missing_ok=True)
    return json.loads(p.stdout)


def rows_written(before: dict, after: dict) -> dict[str, int]:
    """Rows inserted, updated or deleted per table (only tables with any)."""
    out = {}
    for name in set(before) | set(after):
        b, a = before.get(name, {}), after.get(name, {})
        n = sum(1 for k in a if k not in b) + sum(1 for k in b if k not in a)
        n += sum(1 for k in a if k in b and a[k] != b[k])
        if n:
            out[name] = n
    return out


def ledger(db: Path) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    run = dict(conn.execute("select * from runs order by id desc limit 1").fetchone())
    conn.close()
    return {k: run.get(k) for k in ("status", "found", "new", "updated", "unchanged", "extracted", "skipped")}


# --- the run ----------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else platform.processor() or cpu
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        pass
    import lxml.etree

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " + uncommitted changes"
    return {
        "commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "lxml": ".".join(map(str, lxml.etree.LXML_VERSION)),
        "load_before": os.getloadavg(),
    }


def measure(n: int, repeat: int, with_5n: bool, log) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    files = make_files(n)
    floor_cmd = lambda p: [sys.executable, "-c", FLOOR, str(p)]
    res: dict[str, list[dict]] = {k: [] for k in ("floor", "first", "reimport", "incr", "delta")}
    for rep in range(repeat):
        res["floor"].append(timed(floor_cmd(files["base"]), ROOT))
        log(f"[{rep + 1}/{repeat}] floor {res['floor'][-1]['seconds']:.2f}s")

        d = fresh_dir("first")
        db = d / "bench.db"
        r = timed(import_cmd(files["base"], db), ROOT)
        if rep == 0:
            r["rows"] = diff_states(None, save_state(db))
        r["ledger"] = ledger(db)
        res["first"].append(r)
        log(f"[{rep + 1}/{repeat}] first import {r['seconds']:.2f}s, {r['max_rss_mb']:.0f} MB")

        for kind in ("incr", "delta"):
            dd = fresh_dir(kind)
            cdb = copy_db(db, dd)
            before = save_state(cdb)
            r = timed(import_cmd(files[kind], cdb), ROOT)
            r["rows"] = diff_states(before, save_state(cdb))
            r["ledger"] = ledger(cdb)
            res[kind].append(r)
            log(f"[{rep + 1}/{repeat}] {kind} {r['seconds']:.2f}s, rows {sum(r['rows'].values())}")

        before = save_state(db)
        r = timed(import_cmd(files["base"], db), ROOT)
        r["rows"] = diff_states(before, save_state(db))
        r["ledger"] = ledger(db)
        res["reimport"].append(r)
        log(f"[{rep + 1}/{repeat}] re-import {r['seconds']:.2f}s, rows {sum(r['rows'].values())}")

    if with_5n:
        big = make_files(5 * n)["base"]
        res["floor_5n"] = [timed(floor_cmd(big), ROOT)]
        d = fresh_dir("first5n")
        r = timed(import_cmd(big, d / "bench.db"), ROOT)
        r["ledger"] = ledger(d / "bench.db")
        res["first_5n"] = [r]
        log(f"5N first import {r['seconds']:.2f}s, {r['max_rss_mb']:.0f} MB")
        shutil.rmtree(d, ignore_errors=True)
    return {"files": {k: str(v) for k, v in files.items()}, "size_mb": files["base"].stat().st_size / 1e6, "results": res}


def measure_reimport(n: int, repeat: int, log) -> dict:
    """--reimport-only: one first import (to have a database), then the floor and the
    unchanged re-import `repeat` times each, taking turns (each round starting with the
    other), as `measure` runs them."""
    OUT.mkdir(parents=True, exist_ok=True)
    files = make_files(n)
    d = fresh_dir("reimport")
    db = d / "bench.db"
    res: dict[str, list[dict]] = {"floor": [], "first": [timed(import_cmd(files["base"], db), ROOT)], "reimport": []}
    log(f"first import {res['first'][0]['seconds']:.2f}s (to have a database; not compared)")
    for rep in range(repeat):
        for kind in (("floor", "reimport") if rep % 2 == 0 else ("reimport", "floor")):
            cmd = [sys.executable, "-c", FLOOR, str(files["base"])] if kind == "floor" else import_cmd(files["base"], db)
            r = timed(cmd, ROOT)
            if kind == "reimport":
                r["ledger"] = ledger(db)
                assert (r["ledger"]["unchanged"], r["ledger"]["new"], r["ledger"]["updated"]) == (n, 0, 0), r["ledger"]
            res[kind].append(r)
            log(f"[{rep + 1}/{repeat}] {kind} {r['seconds']:.2f}s")
    shutil.rmtree(d, ignore_errors=True)
    return {"size_mb": files["base"].stat().st_size / 1e6, "results": res}


def report_reimport(n: int, repeat: int, data: dict, mach: dict) -> str:
    res = data["results"]
    fmin, fmed = summary(res["floor"])
    rmin, rmed = summary(res["reimport"])
    return "\n".join([
        f"Run {data['date']} on {mach['cpu']}, {mach['cores']} cores; Python {mach['python']}; code at "
        f"{mach.get('commit', 'unknown')}. Load average (1, 5, 15 min) "
        f"{' / '.join(f'{x:.2f}' for x in mach['load_before'])} before, "
        f"{' / '.join(f'{x:.2f}' for x in mach['load_after'])} after.",
        "",
        f"N = {n:,} records ({data['size_mb']:.0f} MB); {repeat} rounds, taking turns; min / median; "
        "the ratio is median ÷ median floor.",
        "",
        "| what | seconds min / median | × floor | peak RSS MB |",
        "|---|---:|---:|---:|",
        f"| lxml iterparse alone (the floor) | {fmin:.2f} / {fmed:.2f} | 1.00 | "
        f"{max(r['max_rss_mb'] for r in res['floor']):.0f} |",
        f"| re-import of the same file (nothing changed) | {rmin:.2f} / {rmed:.2f} | {rmed / fmed:.2f} | "
        f"{max(r['max_rss_mb'] for r in res['reimport']):.0f} |",
        "",
        f"Target (issue 15): re-import ≤ 1.5× the floor: {rmed / fmed:.2f}× ({'met' if rmed / fmed <= 1.5 else 'NOT met'}).",
    ])


def summary(rs: list[dict], key: str = "seconds") -> tuple[float, float]:
    xs = [r[key] for r in rs]
    return min(xs), statistics.median(xs)


def report(n: int, repeat: int, data: dict, mach: dict) -> tuple[str, list[tuple[str, str, bool]]]:
    res = data["results"]
    fmin, fmed = summary(res["floor"])
    first_min, first_med = summary(res["first"])
    changed = max(1, n // 100) * 2
    lines = [
        f"Run {data['date']} on {mach['cpu']}, {mach['cores']} cores, {mach['memory']}, {mach['os']}; "
        f"Python {mach['python']}, SQLite {mach['sqlite']}, lxml {mach['lxml']}; code at {mach.get('commit', 'unknown')}. "
        f"Load average {mach['load_before'][0]:.2f} before, {mach['load_after'][0]:.2f} after "
        f"(the machine was {'shared' if max(mach['load_before'][0], mach['load_after'][0]) > 0.5 else 'idle'}).",
        "",
        f"N = {n:,} records ({data['size_mb']:.0f} MB of efetch XML); each row run {repeat}× "
        f"(interleaved), min / median; ratios are median ÷ median floor of this run "
        f"(floor median {fmed:.2f}s, min {fmin:.2f}s).",
        "",
        "| what (`python -m pipeline import FILE --db DB`, whole process) | seconds min / median | × floor | peak RSS MB | rows written | run ledger new / updated / unchanged / extracted |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def row(label: str, key: str, ratio_to: float | None = fmed) -> None:
        rs = res[key]
        mn, md = summary(rs)
        rss = max(r["max_rss_mb"] for r in rs)
        rows = rs[0].get("rows")
        nrows = f"{sum(rows.values()):,}" if rows is not None else "–"
        lg = rs[0].get("ledger")
        lgs = f"{lg['new']} / {lg['updated']} / {lg['unchanged']} / {lg['extracted']}" if lg else "–"
        ratio = f"{md / ratio_to:.2f}" if ratio_to else "1.00"
        lines.append(f"| {label} | {mn:.2f} / {md:.2f} | {ratio} | {rss:.0f} | {nrows} | {lgs} |")

    row("lxml iterparse alone (the floor)", "floor", None)
    row(f"first import, new database, N = {n:,}", "first")
    row("re-import of the same file (nothing changed)", "reimport")
    row(f"incremental: file re-saved, 1% revised + 1% new ({n + n // 100:,} records)", "incr")
    row(f"incremental: delta file only, 1% revised + 1% new ({changed:,} records)", "delta")
    if "first_5n" in res:
        f5 = res["floor_5n"][0]["seconds"]
        row(f"lxml iterparse alone at 5N = {5 * n:,}", "floor_5n", None)
        row(f"first import at 5N = {5 * n:,} (once; × its own floor)", "first_5n", f5)

    # Targets (issue 15).
    re_md = summary(res["reimport"])[1]
    incr_md, delta_md = summary(res["incr"])[1], summary(res["delta"])[1]
    re_rows = sum(v for k, v in res["reimport"][0]["rows"].items() if k != "runs")
    first_rows = sum(res["first"][0]["rows"].values())
    incr_rows = sum(res["incr"][0]["rows"].values())
    delta_rows = sum(res["delta"][0]["rows"].values())
    rss_n = statistics.median(r["max_rss_mb"] for r in res["first"])
    targets: list[tuple[str, str, bool]] = [
        ("first import end to end ≤ 12× the floor", f"{first_med / fmed:.1f}×", first_med / fmed <= 12),
        ("re-import of an unchanged file ≤ 1.5× the floor", f"{re_md / fmed:.2f}×", re_md / fmed <= 1.5),
        ("re-import writes no rows (the run's own row in the `runs` ledger aside)",
         f"{re_rows:,} rows ({_which(res['reimport'][0]['rows'])})", re_rows == 0),
        ("incremental 2% (file re-saved): time ≤ 10% of the first import",
         f"{100 * incr_md / first_med:.1f}%", incr_md <= 0.10 * first_med),
        ("incremental 2% (delta file): time ≤ 10% of the first import",
         f"{100 * delta_md / first_med:.1f}%", delta_md <= 0.10 * first_med),
        ("incremental rows written proportional to the change (≈ 2% of the first import's, ≤ 5%)",
         f"{incr_rows:,} rows = {100 * incr_rows / first_rows:.1f}% of {first_rows:,} (delta file: {delta_rows:,})",
         incr_rows <= 0.05 * first_rows),
    ]
    if "first_5n" in res:
        rss_5n = res["first_5n"][0]["max_rss_mb"]
        targets.append(("peak memory at 5N ≤ 1.25× that at N",
                        f"{rss_5n:.0f} / {rss_n:.0f} MB = {rss_5n / rss_n:.2f}×", rss_5n <= 1.25 * rss_n))
    lines += ["", "| target (issue 15) | measured | met |", "|---|---:|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets]

    tables = {}
    for k in ("first", "reimport", "incr", "delta"):
        tables[k] = res[k][0].get("rows") or {}
    lines += ["", "Rows written per table (first repetition; FTS shadow tables included):", ""]
    names = sorted(set().union(*tables.values()))
    lines.append("| table | first import | re-import | incremental (re-saved) | incremental (delta) |")
    lines.append("|---|---:|---:|---:|---:|")
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{tables[k].get(name, 0):,}" for k in tables) + " |")
    return "\n".join(lines), targets


def _which(rows: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(rows.items())) or "none"


def profile(n: int, top: int = 25) -> str:
    """cProfile the first import at N (in-process, so slower than the timed run)."""
    import cProfile  # noqa: F401  (run as -m cProfile)
    import pstats
    import io

    files = make_files(n)
    d = fresh_dir("profile")
    prof = OUT / f"first-import-{n}.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "pipeline", "import",
                    str(files["base"]), "--db", str(d / "bench.db")], cwd=ROOT, check=True,
                   capture_output=True)
    buf = io.StringIO()
    st = pstats.Stats(str(prof), stream=buf)
    st.sort_stats("cumulative").print_stats(top)
    text = buf.getvalue()
    (OUT / f"first-import-{n}.profile.txt").write_text(text, encoding="utf-8")
    return text


def keep_section(title: str) -> str:
    """A hand-written section of docs/performance.md that a new run keeps."""
    if not DOC.exists():
        return ""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    return m.group(0).rstrip() + "\n" if m else ""


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--state"]:
        import pickle

        Path(argv[2]).write_bytes(pickle.dumps(table_state(Path(argv[1]))))
        return None
    if argv[:1] == ["--diff"]:
        import pickle

        before = pickle.loads(Path(argv[1]).read_bytes()) if argv[1] else {}
        print(json.dumps(rows_written(before, pickle.loads(Path(argv[2]).read_bytes()))))
        return None
    if argv[:1] == ["--make-files"]:
        OUT.mkdir(parents=True, exist_ok=True)
        return _make_files(int(argv[1]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", "-n", type=int, default=int(os.environ.get("BENCH_N") or 20_000),
                        help="N (default 20,000, the issue's figure, or $BENCH_N)")
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT") or 2))
    parser.add_argument("--no-5n", action="store_true", help="skip the first import at 5N (peak memory at 5N)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one first import at N")
    parser.add_argument("--write-doc", action="store_true", help=f"write the results to {DOC.relative_to(ROOT)}")
    parser.add_argument("--reimport-only", action="store_true",
                        help="only the floor and the unchanged re-import, taking turns --repeat times each "
                             "(after one first import); printed, never written to the doc")
    args = parser.parse_args(argv)

    log = lambda s: print(s, file=sys.stderr, flush=True)
    mach = machine()
    if args.reimport_only:
        data = measure_reimport(args.records, args.repeat, log)
        mach["load_after"] = os.getloadavg()
        data["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(report_reimport(args.records, args.repeat, data, mach))
        return None
    data = measure(args.records, args.repeat, not args.no_5n, log)
    mach["load_after"] = os.getloadavg()
    data["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    table, targets = report(args.records, args.repeat, data, mach)
    (OUT / f"e2e-{args.records}.json").write_text(json.dumps({"machine": mach, **data}, indent=1, default=str))
    print(table)
    prof = profile(args.records) if args.profile else ""
    if args.write_doc:
        met = sum(ok for _, _, ok in targets)
        parts = [
            "# Performance",
            "",
            "Written by `make bench` (`python bench/bench_import.py --write-doc`; "
            "N = 20,000 by default, or `--records` / `BENCH_N`; `make bench SERVE=1` adds "
            "`bench/bench_serve.py`, serving 100,000 studies). What users run, timed whole: "
            "`python -m pipeline import FILE --db DB` in its own process (start-up, load, "
            "hashing, extraction, claims and the digest), against a bare lxml `iterparse` "
            "of the same file in the same run. Peak memory is each process's max RSS. "
            "Rows written are counted by diffing every table before and after.",
            "",
            "## Results",
            "",
            table,
            "",
            f"{met} of {len(targets)} targets met.",
            "",
        ]
        for title in ("Where the time goes", "Serving 100,000 studies", "Extraction speed"):  # hand-written; bench_serve.py's
            kept = keep_section(title)
            if kept:
                parts += [kept]
        if prof:
            parts += ["## Profile of the first import (cProfile, cumulative, top 25)", "",
                      "```", prof.strip()[:12000], "```", ""]
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text("\n".join(parts), encoding="utf-8")
        log(f"wrote {DOC}")


if __name__ == "__main__":
    main()
