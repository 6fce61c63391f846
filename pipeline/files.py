"""Writing files a person opens while the pipeline may be killed mid-write."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` so that a reader (or a kill at any moment) sees the old
    file or the new one, never a half-written or empty one: write a temporary file
    beside it, flush it to disk, then rename it over `path`."""
    return write_atomic_chunks(path, [text], encoding)


def write_atomic_chunks(path: Path, chunks: Iterable[str], encoding: str = "utf-8") -> Path:
    """`write_atomic` for text made in pieces (a template's stream): written as it comes,
    in blocks, so the whole text is never held in memory."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding) as f:
            buffer: list[str] = []
            size = 0
            for chunk in chunks:
                buffer.append(chunk)
                size += len(chunk)
                if size > 1 << 16:
                    f.write("".join(buffer))
                    buffer, size = [], 0
            f.write("".join(buffer))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the digest is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
