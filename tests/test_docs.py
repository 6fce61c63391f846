"""The README stays true: every command and environment variable is documented."""

from pathlib import Path

from pipeline.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_command_is_in_the_readme():
    for name in cli.commands:
        assert f"evidence {name}" in README, name


def test_every_environment_variable_is_in_the_readme():
    for var in ("NCBI_EUTILS_URL", "NCBI_API_KEY", "NCBI_EMAIL", "NCBI_TOOL", "EVIDENCE_DB"):
        assert f"`{var}`" in README, var


def test_the_two_commands_are_shown():
    assert "make run" in README and "make test" in README
