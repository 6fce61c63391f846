"""The extractor's version, named without building the extractor.

It is the code's version plus a hash of what the extractor reads besides code:
the rule files (rules/*.yml, the outcome terms rules/outcomes.yml among them)
and the topic's words (topics/<topic>/words.yml: its patterns, and the word
lists it gives the rules).
Both are hashed as bytes, nothing is compiled, so any command can name the
version at once; a change to either makes every stored extraction out of date,
and the next run extracts it again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .rules import fingerprint as rules_fingerprint
from .topic import TOPIC_WORDS

CODE_VERSION = "1.18"  # bump when a rule kept in code (pipeline/extract.py, sample_size.py, effects.py) changes


def words_fingerprint(path: str | Path = TOPIC_WORDS) -> str:
    """A hash of the topic's words file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


EXTRACTOR_VERSION = (
    f"{CODE_VERSION}+{hashlib.sha256((rules_fingerprint() + words_fingerprint()).encode()).hexdigest()[:8]}"
)
