"""A real HTTP server for the tests that need one: a command started on a free
loopback port, waited for until it answers, and stopped afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests


def free_port() -> int:
    """A loopback port free now (nothing listens on it: connecting is refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evidence_serve_args(db_path: Path, port: int) -> list[str]:
    """`evidence serve` as a user runs it."""
    return [sys.executable, "-m", "pipeline", "serve", "--db", str(db_path), "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def running(
    args_for_port: Callable[[int], list[str]], *, preexec_fn: Callable[[], None] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start `args_for_port(port)` on a free port; yield the process and its base URL
    once /-/versions.json answers; stop it at the end."""
    port = free_port()
    proc = subprocess.Popen(
        args_for_port(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=preexec_fn,  # noqa: PLW1509 (fixtures start servers before tests start threads)
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/-/versions.json", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the server did not answer: " + proc.stdout.read().decode()[-2000:])
    try:
        yield proc, base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
