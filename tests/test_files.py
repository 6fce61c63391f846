"""Files a person opens are replaced whole, never left half-written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.files import write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "digest.html"
    target.write_text("old")
    write_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["digest.html"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


@pytest.mark.reliability("crash", "SIGKILL while the digest is written")
def test_a_kill_while_the_digest_is_written_leaves_the_previous_digest(tmp_path):
    """SIGKILL at the worst moment (the new text written, not yet renamed into
    place): digest.html is the previous one, whole, not a 0-byte file."""
    db = tmp_path / "evidence.db"
    ok = subprocess.run([sys.executable, "-m", "pipeline", "run", "--source", "snapshot", "--db", str(db)],
                        capture_output=True, timeout=300)
    assert ok.returncode == 0, ok.stderr.decode()[-2000:]
    before = (tmp_path / "digest.html").read_bytes()
    assert len(before) > 10_000
    killer = (
        "import os, signal, sys; "
        "os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL); "
        "from pipeline.cli import main; sys.argv[0] = 'evidence'; main()"
    )
    proc = subprocess.run([sys.executable, "-c", killer, "digest", "--db", str(db)], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert (tmp_path / "digest.html").read_bytes() == before
