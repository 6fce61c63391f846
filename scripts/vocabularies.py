"""Write the vocabularies of pipeline/vocab.py into the README and db/metadata.yml.

Usage: python scripts/vocabularies.py           rewrite both files where they differ
       python scripts/vocabularies.py --check   exit 1, naming the file, if either differs

pipeline/vocab.py is the one source of the extracted columns' values and what
each means. Two places repeat them for readers, and both are generated:

- README.md: the table of extraction columns, between the lines
  `<!-- vocab:start: … -->` and `<!-- vocab:end -->` (everything else untouched);
- db/metadata.yml: the `columns` descriptions that vocab.COLUMNS lists
  (studies.design, .headache_types, .comparators, .outcomes, .direction,
  .evidence_level; effects.measure, .level). Only those keys' values are
  rewritten, as folded (`>-`) blocks, found by their path in the file's
  indentation; every other line, comments included, is kept byte for byte.
  (PyYAML would drop the comments and ruamel is not a dependency.) After
  rewriting, the file is parsed again and must equal the old one except for
  exactly those values, so a rewrite that would damage the YAML is refused.

tests/test_vocab.py runs the same rendering and fails when either file differs.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.vocab import metadata_descriptions, readme_table

README = ROOT / "README.md"
METADATA = ROOT / "db" / "metadata.yml"
START = "<!-- vocab:start: generated from pipeline/vocab.py by scripts/vocabularies.py; edit there -->"
END = "<!-- vocab:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?:\s|$)")
_WIDTH = 80


def render_readme(text: str) -> str:
    """The README with the generated table between the markers."""
    text = text.replace("<!-- vocab:start -->", START)  # the short form, as first written
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"README.md: expected one {START} … {END} region")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{readme_table()}\n{END}{tail}"


def _metadata_paths() -> dict[tuple[str, ...], str]:
    return {("databases", "evidence", "tables", table, "columns", column): text
            for (table, column), text in metadata_descriptions().items()}


def _block(indent: int, key: str, text: str) -> list[str]:
    pad = " " * (indent + 2)
    lines = textwrap.wrap(text, width=max(40, _WIDTH - len(pad)), break_long_words=False, break_on_hyphens=False)
    return [f"{' ' * indent}{key}: >-\n"] + [f"{pad}{line}\n" for line in lines]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def render_metadata(text: str) -> str:
    """db/metadata.yml with the vocabulary-derived column descriptions regenerated."""
    wanted = _metadata_paths()
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stack: list[tuple[int, str]] = []
    found: set[tuple[str, ...]] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _KEY.match(line)
        if m and not line.lstrip().startswith("#"):
            indent = len(m["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m["key"]))
            path = tuple(key for _, key in stack)
            if path in wanted:
                # The value: the rest of this line and every following line indented deeper.
                j = i + 1
                while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
                    j += 1
                while j > i + 1 and not lines[j - 1].strip():
                    j -= 1  # blank lines after the value belong to what follows
                out.extend(_block(indent, m["key"], wanted[path]))
                found.add(path)
                i = j
                continue
        out.append(line)
        i += 1
    missing = set(wanted) - found
    if missing:
        raise ValueError(f"db/metadata.yml: no key {', '.join('.'.join(p) for p in sorted(missing))}")
    new = "".join(out)
    _check_only_descriptions_changed(text, new, wanted)
    return new


def _check_only_descriptions_changed(old: str, new: str, wanted: dict[tuple[str, ...], str]) -> None:
    """The rewritten YAML means the old one with exactly the generated values replaced."""
    expected = yaml.safe_load(old)
    for path, value in wanted.items():
        node = expected
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    if yaml.safe_load(new) != expected:
        raise ValueError("db/metadata.yml: the rewrite would change more than the vocabulary descriptions")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, render in ((README, render_readme), (METADATA, render_metadata)):
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and stale:
        print(f"out of date with pipeline/vocab.py: {', '.join(map(str, stale))} (run: python scripts/vocabularies.py)")
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
