"""Shared fixtures: the bundled snapshot, temporary databases, a fake E-utilities
server on 127.0.0.1, and an environment that can reach nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # for the helpers beside the tests (fake_eutils, serving, browser)

from fake_eutils import FakeEutils  # noqa: E402
from serving import free_port as closed_port  # noqa: E402  (a loopback port nothing listens on)

from pipeline import pubmed, store  # noqa: E402
from pipeline.sources import SNAPSHOT_XML  # noqa: E402

NCBI_REAL = TESTS / "data" / "ncbi-real"


@pytest.fixture(autouse=True)
def offline_env(monkeypatch):
    """No test may reach beyond 127.0.0.1: point E-utilities and ClinicalTrials.gov at dead loopback ports."""
    monkeypatch.setenv("NCBI_EUTILS_URL", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.setenv("CTGOV_API_URL", f"http://127.0.0.1:{closed_port()}/api/v2")
    for var in ("NCBI_API_KEY", "NCBI_EMAIL", "NCBI_TOOL", "EVIDENCE_DB"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def snapshot_xml() -> Path:
    return SNAPSHOT_XML


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "evidence.db"


@pytest.fixture
def db(db_path):
    return store.open_db(db_path)


@pytest.fixture
def fake_eutils():
    with FakeEutils(SNAPSHOT_XML) as fake:
        yield fake


@pytest.fixture
def client(fake_eutils):
    """A client for the fake server with quick backoff (the logic, not the waiting, is tested)."""
    return pubmed.Client(
        pubmed.Settings(base_url=fake_eutils.base_url),
        backoff_initial=0.01,
        backoff_max=0.05,
        backoff_jitter=0.01,
        requests_per_second=100,
        timeout=5,
    )


@pytest.fixture
def loaded(tmp_path) -> Path:
    """A database built by `evidence run --source snapshot`, as a user would."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    path = tmp_path / "evidence.db"
    assert CliRunner().invoke(cli, ["run", "--source", "snapshot", "--db", str(path)]).exit_code == 0
    return path
