"""YAML data files (rules, topic words, claims, schedule, metadata) read with libyaml.

PyYAML's pure-Python safe loader took ~0.12 s of every command that reads the
rule files, and each extraction worker reads them again; its C loader (libyaml,
shipped in PyYAML's wheels) builds the same data in a tenth of that. Where PyYAML
was built without libyaml, the Python loader is used.
"""

from __future__ import annotations

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """`yaml.safe_load(text)`, by libyaml where it is available."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader: CSafeLoader or SafeLoader)
