"""A small rules engine: wording rules kept as data, each with its own examples.

A rule file (YAML, in the top-level `rules/` folder) holds

- `labels`: the labels its rules may give, each with what it means;
- `lists`: named word lists, one phrase a line, written as plain text (the
  engine escapes them, lets a space match any run of spaces, and tries longer
  phrases first);
- `rules`: each with an `id`, the `label` it gives, a `pattern` (a regular
  expression in which `{list}` stands for any phrase of a named list and `{NUM}`
  for a number as abstracts write it), the `scope` it reads (`sentence`: found
  anywhere in a result sentence; `before`: found in the words the caller reads
  before an anchor, e.g. between the previous estimate and an interval; `after`:
  must start right where the caller points, e.g. after a value; all rules of one
  label share a scope, and `find` reads the first two while `at` reads the third),
  a `precedence` (higher wins where two rules overlap), `examples` (text it must
  fire on, optionally with the capture expected) and `counterexamples` (text it
  must not fire on).

Rules that classify a whole record (its design, say) read named parts of the
document model instead (`title`, `own`: the sentences about this study, `abstract`,
`lead`: the title and first sentence, `types`: PubMed publication types one a
line, `mesh`, `conclusion`, `findings`). Their labels are `family/value`
(`design/rct`); `decide(family, parts)` tries them from the highest precedence
down and the first that fires gives the value. Such a rule may add conditions:
`also` (patterns that must be found too, each in its scope) and `unless`
(patterns that veto it), and `confidence: low` for a weak cue. Its examples and
counterexamples are read as a document whose every part is the example text.

Words that belong to the topic, not to clinical writing in general (the drugs a
headache trial compares with), are a list in the topic's words file instead
(topics/<topic>/words.yml, its `lists:`, written the same way): the rules read
the topic's lists as their own. A list name is defined once, in a rule file or
the topic's words; defined twice, it is an error at load naming both files.

Everything is checked when the file loads: an unknown list or label, a pattern
that does not compile, an example that does not fire or a counterexample that
does raises RuleError naming the file and the rule.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from . import yamldata
from .text import (
    NUM,
    SHARED_WORDS,
    WORD_NUMBER_RE,
    LiteralIndex,
    folded,
    guarded,
    has_words,
    required_literal_sets,
    required_literals,
)
from .topic import TOPIC_WORDS

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
# rules/outcomes.yml is not a rule file: it holds the outcome terms, read by
# pipeline/terms.py. load() passes it by; fingerprint() hashes it with the rule
# files, so an edit to it re-extracts like an edit to a rule.
OUTCOMES_FILE = "outcomes.yml"
ANCHOR_SCOPES = ("sentence", "after", "before")
# The parts of a record a classifying rule may read (see pipeline/document.py).
DOC_SCOPES = ("title", "own", "abstract", "lead", "types", "mesh", "conclusion", "findings")
SCOPES = ANCHOR_SCOPES + DOC_SCOPES
# {COUNT}: a count of people as abstracts write it, in digits ("1,200") or words
# ("Forty-two"); spaces escaped because rule patterns are verbose.
COUNT = r"\d{1,3}(?:,\d{3})+|\d+|" + WORD_NUMBER_RE.pattern.replace(" ", r"\s")
BUILTINS = {"NUM": NUM, "COUNT": COUNT}
# A pattern one of whose required words is shorter than this is run without the check:
# a one- or two-letter word ("of", "%") is in nearly every sentence.
_MIN_WORD = 3
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RULE_KEYS = {
    "id", "label", "pattern", "scope", "precedence", "examples", "counterexamples", "case_sensitive", "note",
    "also", "unless", "confidence",
}


class RuleError(ValueError):
    """A rule file that cannot be used, with the file, the rule and the reason."""


@dataclass(frozen=True)
class Example:
    text: str
    capture: dict[str, str] = field(default_factory=dict)  # group name → text expected


@dataclass(frozen=True)
class Condition:
    """A further pattern a classifying rule needs (`also`) or must not see (`unless`)."""

    scope: str
    pattern: str
    regex: re.Pattern


@dataclass(frozen=True)
class Rule:
    id: str
    label: str
    pattern: str  # as written, over the named lists
    regex: re.Pattern
    scope: str
    precedence: int
    examples: tuple[Example, ...]
    counterexamples: tuple[str, ...]
    source: str  # the file it came from
    also: tuple[Condition, ...] = ()
    unless: tuple[Condition, ...] = ()
    confidence: str = "high"

    @property
    def family(self) -> str | None:
        """'design' for a rule labelled 'design/rct'; None for anchor rules."""
        return self.label.split("/", 1)[0] if "/" in self.label else None

    @property
    def value(self) -> str:
        return self.label.split("/", 1)[-1]


@dataclass(frozen=True)
class Decision:
    """The value a classifying rule gave a record, and the words it read."""

    rule: Rule
    scope: str
    match: re.Match

    @property
    def value(self) -> str:
        return self.rule.value

    @property
    def quote(self) -> str:
        return self.match.group(0)


@dataclass(frozen=True)
class Hit:
    """One match of one rule: its span in the text read and its named groups."""

    rule: Rule
    start: int
    end: int
    match: re.Match

    def group(self, name: str) -> str | None:
        return self.match.groupdict().get(name)

    def span(self, name: str) -> tuple[int, int]:
        return self.match.span(name)


class RuleSet:
    def __init__(self, labels: dict[str, str], lists: dict[str, list[str]], rules: list[Rule],
                 index: LiteralIndex | None = None):
        self.labels = labels
        self.lists = lists
        self.rules = rules
        self._by_label: dict[str, list[Rule]] = {}
        self._memo: dict[tuple[str, str], tuple[Hit, ...]] = {}  # (label, text) → hits, see forget()
        for rule in sorted(rules, key=lambda r: -r.precedence):
            self._by_label.setdefault(rule.label, []).append(rule)
        self._after = {r.label for r in rules if r.scope == "after"}  # labels read with at(), not find()
        self._families: dict[str, list[Rule]] = {}
        # A pattern is run on a text only if one of the words every match of it
        # contains (text.required_literals) is there. A sentence is checked for the
        # words of every rule read by find() at once (a LiteralIndex, once per text,
        # shared with the outcome terms for the default rules: text.SHARED_WORDS); a
        # part of a record, for the words of each classifying rule in turn.
        self._words: dict[re.Pattern, frozenset[str] | None] = {}
        for regex in [r.regex for r in rules] + [c.regex for r in rules for c in (*r.also, *r.unless)]:
            words = required_literals(regex)
            if words is not None and min(map(len, words)) >= _MIN_WORD:
                self._words[regex] = words
        self._index = LiteralIndex() if index is None else index
        self._owns_index = index is None  # a shared index is forgotten by text.forget()
        # (every rule's words: find() reads a sentence's, and possible() a classifying
        # rule's where a caller runs it over sentences itself)
        self._index.add(set().union(*(w for w in self._words.values() if w)))
        # Per label: its rules, highest precedence first, each with the words it needs
        # (looked up in the index), or where it has none such, with its sets of shorter
        # words ("ci", "%", "/"), looked for with `in` (text.has_words).
        self._plan = {
            label: [(r, self._words.get(r.regex), None if r.regex in self._words else _sets(r.regex)) for r in rs]
            for label, rs in self._by_label.items()
        }

    def of(self, label: str) -> list[Rule]:
        if label not in self.labels:
            raise RuleError(f"no label {label!r} in the rule files (known: {', '.join(self.labels)})")
        return self._by_label.get(label, [])

    def find(self, label: str, text: str, start: int = 0, end: int | None = None) -> list[Hit]:
        """Non-overlapping matches of the label's rules in `text` that lie within
        text[start:end], in text order; where two overlap, the higher precedence
        (then the earlier, then the longer) wins. The whole text is read once per
        label and remembered, so asking again about other parts of it is cheap."""
        if label in self._after or label not in self._plan:
            if label in self._after:
                raise RuleError(f"rules of label {label!r} are read right after an anchor: use at()")
            self.of(label)  # an unknown label is an error; a label without rules finds nothing
        hits = self._find_all(label, text)
        if start <= 0 and end is None:
            return list(hits)
        end = len(text) if end is None else end
        return [h for h in hits if h.start >= start and h.end <= end]

    def _find_all(self, label: str, text: str) -> tuple[Hit, ...]:
        key = (label, text)
        try:
            return self._memo[key]
        except KeyError:
            if len(self._memo) > 4096:
                self.forget()  # bounded, even for a caller that never calls forget()
            found = self._memo[key] = self._resolve(label, text)
            return found

    def _words_in(self, text: str) -> set[str] | None:
        """The index's words in `text`; None where folded() cannot be used."""
        return self._index.words_in(text)

    def _resolve(self, label: str, text: str) -> tuple[Hit, ...]:
        present = self._words_in(text)
        hits = []
        for rule, words, sets in self._plan.get(label, ()):
            if words is not None and present is not None and words.isdisjoint(present):
                continue  # none of the words every match of it contains
            if sets and not has_words(sets, text):
                continue
            for m in rule.regex.finditer(text):
                if m.end() > m.start():
                    hits.append(Hit(rule, m.start(), m.end(), m))
        if len(hits) < 2:
            return tuple(hits)
        hits.sort(key=lambda h: (-h.rule.precedence, h.start, -(h.end - h.start)))
        kept: list[Hit] = []
        for h in hits:
            if all(h.end <= k.start or h.start >= k.end for k in kept):
                kept.append(h)
        return tuple(sorted(kept, key=lambda h: h.start))

    def possible(self, regex: re.Pattern, text: str) -> bool:
        """False only where `regex` (a rule's or a condition's) cannot match `text`: none
        of the words every match of it contains is there (looked up in the index)."""
        words = self._words.get(regex)
        if words is None:
            return True
        present = self._index.words_in(text)
        return present is None or not words.isdisjoint(present)

    def possible_in(self, regex: re.Pattern, texts: list[str]) -> list[str]:
        """The `texts` (in order) where `regex` can match (see possible())."""
        words = self._words.get(regex)
        if words is None:
            return texts
        words_in = self._index.words_in
        return [t for t in texts if (present := words_in(t)) is None or not words.isdisjoint(present)]

    def forget(self) -> None:
        """Drop the remembered matches (the caller reads a new document)."""
        self._memo.clear()
        if self._owns_index:
            self._index.forget()

    def at(self, label: str, text: str, pos: int, end: int | None = None) -> Hit | None:
        """The highest-precedence match starting exactly at `pos` (rules of scope `after`)."""
        end = len(text) if end is None else end
        for rule in self.of(label):
            m = rule.regex.match(text, pos, end)
            if m and m.end() > m.start():
                return _hit(rule, m)
        return None

    def fires(self, rule: Rule, text: str) -> re.Match | None:
        """How a rule reads one of its examples: `after` rules from the start, others
        anywhere; a classifying rule as if every part of the document were `text`."""
        if rule.scope == "after":
            return rule.regex.match(text)
        if rule.scope in DOC_SCOPES:
            return self._decide_one(rule, {scope: text for scope in DOC_SCOPES}, {})
        return rule.regex.search(text)

    def family(self, family: str) -> list[Rule]:
        """The classifying rules whose labels are `family/…`, highest precedence first."""
        if family not in self._families:
            found = [r for r in self.rules if r.family == family]
            if not found:
                raise RuleError(f"no rules of family {family!r} in the rule files")
            self._families[family] = sorted(found, key=lambda r: -r.precedence)
        return list(self._families[family])

    def decide(self, family: str, parts: dict[str, str]) -> Decision | None:
        """The first rule of `family` (by precedence) that fires on the document's parts."""
        low: dict[str, str | None] = {}
        for rule in self._families.get(family) or self.family(family):
            m = self._decide_one(rule, parts, low)
            if m:
                return Decision(rule, rule.scope, m)
        return None

    def decide_all(self, family: str, parts: dict[str, str]) -> list[Decision]:
        """Every rule of `family` that fires, highest precedence first (for multi-valued fields)."""
        out = []
        low: dict[str, str | None] = {}
        for rule in self._families.get(family) or self.family(family):
            m = self._decide_one(rule, parts, low)
            if m:
                out.append(Decision(rule, rule.scope, m))
        return out

    def _decide_one(self, rule: Rule, parts: dict[str, str], low: dict[str, str | None]) -> re.Match | None:
        """The rule's match in its part, if its `also` patterns are found and no `unless`
        is; `low` remembers each part's folded() form across the rules of one decision."""

        def search(regex: re.Pattern, scope: str) -> re.Match | None:
            text = parts.get(scope, "")
            words = self._words.get(regex)
            if words is not None:
                if scope not in low:
                    low[scope] = folded(text)
                # (`in` for each word: a few substring searches cost less than one regex scan)
                if low[scope] is not None and not any(w in low[scope] for w in words):
                    return None  # none of the words it needs: it cannot match
            return regex.search(text)

        m = search(rule.regex, rule.scope)
        if not m:
            return None
        if not all(search(c.regex, c.scope) for c in rule.also):
            return None
        if any(search(c.regex, c.scope) for c in rule.unless):
            return None
        return m


def _sets(regex: re.Pattern) -> tuple[tuple[str, ...], ...]:
    """A rule's sets of required words to look for with `in`, or () where there are so
    many words that looking costs about what running the rule does."""
    sets = tuple(tuple(sorted(words)) for words in required_literal_sets(regex))
    return sets if sum(map(len, sets)) <= _MAX_CHECKED_WORDS else ()


_MAX_CHECKED_WORDS = 10


def _hit(rule: Rule, m: re.Match) -> Hit:
    return Hit(rule, m.start(), m.end(), m)


def phrase_regex(phrase: str) -> str:
    """A plain phrase as a regex: escaped, spaces matching any whitespace, word
    boundaries where the phrase starts or ends with a letter or digit."""
    body = r"\s+".join(re.escape(w) for w in phrase.split())
    left = r"\b" if phrase[:1].isalnum() else ""
    right = r"\b" if phrase[-1:].isalnum() else ""
    return f"{left}{body}{right}"


def _compile_lists(lists: dict[str, list[str]]) -> dict[str, str]:
    """Each list as one alternation, longest phrase first, behind a look-ahead on the
    phrases' first characters (so most positions fail at once: the lists are read often)."""
    out = {}
    for name, phrases in lists.items():
        ordered = sorted(map(str, phrases), key=len, reverse=True)
        first = sorted({c for p in ordered for c in (p[0].lower(), p[0].upper())})
        out[name] = "(?=[" + "".join(re.escape(c) for c in first) + "])(?:" + "|".join(map(phrase_regex, ordered)) + ")"
    return out


def _expand(pattern: str, compiled: dict[str, str], where: str) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name in BUILTINS:
            return f"(?:{BUILTINS[name]})"
        if name not in compiled:
            raise RuleError(
                f"{where}: unknown word list {{{name}}} (known: {', '.join(sorted(compiled))}; a list is defined "
                "under lists: in a rule file, rules/*.yml, or in the topic's words, topics/<topic>/words.yml)"
            )
        return compiled[name]

    return _PLACEHOLDER.sub(sub, pattern)


def _examples(raw: object, where: str) -> tuple[Example, ...]:
    out = []
    for item in raw or []:
        if isinstance(item, str):
            out.append(Example(item))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            out.append(Example(item["text"], {k: str(v) for k, v in (item.get("capture") or {}).items()}))
        else:
            raise RuleError(f"{where}: an example must be text or {{text, capture}}, got {item!r}")
    return tuple(out)


def parse_file(path: Path) -> tuple[dict[str, str], dict[str, list[str]], list[dict]]:
    try:
        data = yamldata.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise RuleError(f"{path.name}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RuleError(f"{path.name}: a rule file is a mapping of labels, lists and rules")
    unknown = set(data) - {"labels", "lists", "rules", "about"}
    if unknown:
        raise RuleError(f"{path.name}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    return dict(data.get("labels") or {}), dict(data.get("lists") or {}), list(data.get("rules") or [])


def topic_lists(path: str | Path) -> dict[str, list]:
    """The word lists of a topic's words file (its `lists:`; pipeline/terms.py reads the rest)."""
    path = Path(path)
    try:
        data = yamldata.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RuleError(f"topic words file not found: {path}") from None
    except yaml.YAMLError as e:
        raise RuleError(f"{_topic_name(path)}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("lists") or {}, dict):
        raise RuleError(f"{_topic_name(path)}: lists must be a mapping of list names to phrases")
    return dict(data.get("lists") or {})


def _topic_name(path: Path) -> str:
    """The words file named with its folder: every topic's file is called words.yml."""
    return f"{path.parent.name}/{path.name}"


def _add_lists(lists: dict[str, list[str]], found_in: dict[str, str], new: dict, source: str) -> None:
    """Add one file's word lists; a name already defined (by any file, or a placeholder) is an error."""
    for name, phrases in new.items():
        if name in lists or name in BUILTINS:
            also = f"also in {found_in[name]}" if name in found_in else "a built-in placeholder"
            raise RuleError(f"{source}: word list {name!r} is defined twice ({also})")
        if not isinstance(phrases, list) or not phrases:
            raise RuleError(f"{source}: word list {name!r} must be a non-empty list of phrases")
        lists[name] = [str(p) for p in phrases]
        found_in[name] = source


def build(files: list[Path], index: LiteralIndex | None = None, topic_words: str | Path | None = None) -> RuleSet:
    """Read every file, then check and compile every rule (lists and labels are shared
    across files, so a rule may use a list another file defines, or the topic's words
    file `topic_words`). `index`: the LiteralIndex to look for the rules' words with
    (default: one of their own)."""
    labels: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    found_in: dict[str, str] = {}  # list name → the file that defines it
    raw_rules: list[tuple[Path, dict]] = []
    for path in files:
        file_labels, file_lists, file_rules = parse_file(path)
        _add_lists(lists, found_in, file_lists, path.name)
        labels.update({str(k): str(v) for k, v in file_labels.items()})
        raw_rules += [(path, r) for r in file_rules]
    if topic_words is not None:
        _add_lists(lists, found_in, topic_lists(topic_words), _topic_name(Path(topic_words)))
    compiled = _compile_lists(lists)
    rules: list[Rule] = []
    seen: set[str] = set()
    for path, raw in raw_rules:
        rules.append(_rule(path, raw, labels, compiled, seen))
    scopes: dict[str, Rule] = {}
    for rule in rules:
        if rule.scope in DOC_SCOPES:
            if not rule.family:
                raise RuleError(f"{rule.source}: rule {rule.id}: a rule reading {rule.scope!r} needs a label family/value")
            continue
        first = scopes.setdefault(rule.label, rule)
        if first.scope != rule.scope:
            raise RuleError(
                f"{rule.source}: rule {rule.id}: scope {rule.scope!r} differs from {first.id}'s {first.scope!r} "
                f"(all rules of label {rule.label!r} are read the same way)"
            )
    ruleset = RuleSet(labels, lists, rules, index)
    for rule in rules:
        check_examples(ruleset, rule)
    return ruleset


def _rule(path: Path, raw: object, labels: dict[str, str], compiled: dict[str, str], seen: set[str]) -> Rule:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise RuleError(f"{path.name}: every rule needs an id, got {raw!r}")
    where = f"{path.name}: rule {raw['id']}"
    if raw["id"] in seen:
        raise RuleError(f"{where}: id used twice")
    seen.add(raw["id"])
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("label", "pattern"):
        if not isinstance(raw.get(key), str):
            raise RuleError(f"{where}: {key} missing")
    if raw["label"] not in labels:
        raise RuleError(f"{where}: unknown label {raw['label']!r} (known: {', '.join(labels)})")
    scope = raw.get("scope", "sentence")
    if scope not in SCOPES:
        raise RuleError(f"{where}: unknown scope {scope!r} (known: {', '.join(SCOPES)})")
    precedence = raw.get("precedence", 0)
    if not isinstance(precedence, int):
        raise RuleError(f"{where}: precedence must be an integer")
    examples = _examples(raw.get("examples"), where)
    if not examples:
        raise RuleError(f"{where}: at least one example is required")
    counter = tuple(str(c) for c in raw.get("counterexamples") or [])
    expanded = _expand(raw["pattern"], compiled, where)
    flags = re.X | (0 if raw.get("case_sensitive") else re.I)
    try:
        regex = guarded(re.compile(expanded, flags))  # the same matches, found faster (text.guarded)
    except re.error as e:
        raise RuleError(f"{where}: pattern does not compile: {e}") from None
    confidence = raw.get("confidence", "high")
    if confidence not in ("high", "low"):
        raise RuleError(f"{where}: confidence must be high or low")
    extra = {key: _conditions(raw.get(key), scope, compiled, flags, f"{where}: {key}") for key in ("also", "unless")}
    if (extra["also"] or extra["unless"] or confidence != "high") and scope not in DOC_SCOPES:
        raise RuleError(f"{where}: also/unless/confidence are for rules reading a part of the record ({', '.join(DOC_SCOPES)})")
    return Rule(
        raw["id"], raw["label"], raw["pattern"], regex, scope, precedence, examples, counter, path.name,
        also=extra["also"], unless=extra["unless"], confidence=confidence,
    )


def _conditions(raw: object, default_scope: str, compiled: dict[str, str], flags: int, where: str) -> tuple[Condition, ...]:
    """`also`/`unless`: a pattern, or a list of patterns or {scope, pattern}."""
    items = [] if raw is None else raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        scope, pattern = (default_scope, item) if isinstance(item, str) else (
            (item.get("scope", default_scope), item.get("pattern")) if isinstance(item, dict) else (None, None)
        )
        if not isinstance(pattern, str) or scope not in DOC_SCOPES:
            raise RuleError(f"{where}: expected a pattern or {{scope, pattern}} with scope one of {', '.join(DOC_SCOPES)}, got {item!r}")
        try:
            out.append(Condition(scope, pattern, re.compile(_expand(pattern, compiled, where), flags)))
        except re.error as e:
            raise RuleError(f"{where}: pattern does not compile: {e}") from None
    return tuple(out)


def check_examples(ruleset: RuleSet, rule: Rule) -> None:
    """Raise RuleError unless every example fires (with its captures) and no counterexample does."""
    where = f"{rule.source}: rule {rule.id}"
    for ex in rule.examples:
        m = ruleset.fires(rule, ex.text)
        if not m:
            raise RuleError(f"{where}: example does not fire: {ex.text!r}")
        for name, expected in ex.capture.items():
            if name not in rule.regex.groupindex:
                raise RuleError(f"{where}: example expects a capture {name!r} the pattern does not have")
            if (m.group(name) or "").strip() != expected.strip():
                raise RuleError(f"{where}: example {ex.text!r} captures {name}={m.group(name)!r}, expected {expected!r}")
    for text in rule.counterexamples:
        m = ruleset.fires(rule, text)
        if m:
            raise RuleError(f"{where}: counterexample fires: {text!r} (matched {m.group(0)!r})")


def load(folder: str | Path = RULES_DIR, index: LiteralIndex | None = None,
         topic_words: str | Path | None = TOPIC_WORDS) -> RuleSet:
    """Every `*.yml` rule file in `folder` (not the outcome terms: OUTCOMES_FILE), with
    the word lists of the topic's words file (None: none), checked."""
    files = [path for path in sorted(Path(folder).glob("*.yml")) if path.name != OUTCOMES_FILE]
    if not files:
        raise RuleError(f"no rule files (*.yml) in {folder}")
    return build(files, index, topic_words)


def fingerprint(folder: str | Path = RULES_DIR) -> str:
    """A hash of every rule file's bytes (and the outcome terms', OUTCOMES_FILE): part
    of the extractor's version, so a changed rule makes the stored extraction out of date.
    (The topic's word lists are hashed with its words file: version.words_fingerprint.)"""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.yml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def default() -> RuleSet:
    """The project's rules, loaded once per process (their words looked for in one
    pass with the outcome terms': text.SHARED_WORDS)."""
    return load(RULES_DIR, SHARED_WORDS)
