"""The README stays true: every command and environment variable is documented."""

from pathlib import Path

from pipeline.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_command_is_in_the_readme():
    for name in cli.commands:
        assert f"evidence {name}" in README, name


def test_every_environment_variable_is_in_the_readme():
    for var in (
        "NCBI_EUTILS_URL", "NCBI_API_KEY", "NCBI_EMAIL", "NCBI_TOOL", "EVIDENCE_DB", "EVIDENCE_LOCK_WAIT",
        "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS", "SMTP_SSL",
        "DIGEST_FROM", "DIGEST_TO", "DIGEST_UNSUBSCRIBE", "DIGEST_SKIP_EMPTY",
    ):
        assert f"`{var}`" in README, var


def test_every_environment_variable_the_code_reads_is_documented():
    """Any os.environ/env.get("NAME") in the package appears in the README."""
    import re

    package = Path(__file__).parent.parent / "pipeline"
    read = set()
    for path in package.glob("*.py"):
        read |= set(re.findall(r'env(?:iron)?\.get\("([A-Z_]+)"', path.read_text()))
        read |= set(re.findall(r'flag\("([A-Z_]+)"\)', path.read_text()))
        read |= set(re.findall(r'envvar="([A-Z_]+)"', path.read_text()))
    assert read, "the scan found nothing: the pattern is stale"
    assert {v for v in read if f"`{v}`" not in README} == set()


def test_the_two_commands_are_shown():
    assert "make run" in README and "make test" in README


def _marked_reliability_tests() -> set[str]:
    """Node ids of the tests marked @pytest.mark.reliability, read from the source."""
    import ast

    found = set()
    tests = Path(__file__).parent
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    if ast.unparse(target).endswith("mark.reliability"):
                        found.add(f"tests/{path.name}::{node.name}")
    return found


def test_the_reliability_report_lists_exactly_the_marked_tests():
    """docs/reliability.md is generated from the tests (`make reliability`): it may
    not list a case the suite does not run, nor miss one it does."""
    import re

    doc = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    listed = {re.sub(r"\[.*\]$", "", m) for m in re.findall(r"`(tests/test_[^`]+::[^`]+)`", doc)}
    marked = _marked_reliability_tests()
    assert marked, "no test is marked reliability: the scan is stale"
    assert listed == marked, {"missing from the report": marked - listed, "no longer tests": listed - marked}
