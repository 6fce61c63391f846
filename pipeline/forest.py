"""Forest plots a person can read: each row names the study (first author, year),
the subgroup or comparison and the time point; the axis says which side favours
needling (or, when that is not known, only which side is lower); ticks are
round numbers, each once; and the SVG stays legible when a phone scales it down.

The layout is narrow on purpose, drawn for a phone's column (about 345 px at
390 px): each row is its label, the estimate as numbers (beside the label when
it fits), then the interval across the whole width. Scaled to a phone its
13-15 px text stays above 12 px on screen; a desktop shows it at about natural size.
"""

from __future__ import annotations

from collections import Counter

import json
import math
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from .claims import NO_EFFECT  # the line of no effect, by measure

RATIOS = {"OR", "RR"}
# Signed differences (needling minus comparator). Cohen's d is often reported
# unsigned, so its direction is not assumed.
DIFFERENCES = {"MD", "SMD", "WMD"}
# Which way is better, by outcome, for a difference between groups (needling minus
# comparator): less pain, fewer or shorter headaches, less disability or medication
# is better; more movement, a higher pain threshold, better quality of life is better.
# For ratios the event may be good (responders) or bad (attacks): not recorded, so unknown.
LOWER_IS_BETTER = {"pain_intensity", "frequency", "duration", "disability", "medication_use"}
HIGHER_IS_BETTER = {"range_of_motion", "pressure_pain_threshold", "quality_of_life"}
AXIS_WORDS: dict[str | None, tuple[str, str]] = {
    "lower": ("← favours needling", "favours comparator →"),
    "higher": ("← favours comparator", "favours needling →"),
    None: ("← lower", "higher →"),
}
# How abstracts introduce a comparison ("Compared with sham") → "vs sham".
COMPARISON_LEAD = re.compile(r"^(?:compared (?:with|to)|versus|vs\.?|against|relative to|than)\s+", re.I)
# Words that end the phrase naming a subgroup just before "(SMD ...": "in TTH (", ", CGH (";
# the last such word wins ("improved more with needling in TTH (" → "TTH").
SUBGROUP_BEFORE = re.compile(r".*(?:^|[,;)]|\b(?:in|or|and|for|among|with)\b)\s*([^,;()\d]{2,40})$", re.I)
LEADING_JOINER = re.compile(r"^(?:(?:in|or|and|for|among|with)\s+)+", re.I)
LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)

# Geometry (SVG user units = CSS px at natural size).
WIDTH, PLOT_LEFT, PLOT_RIGHT = 360, 20, 340
LABEL_PX, SMALL_PX, LINE_H, CI_H = 15, 13, 18, 22
# Average glyph widths (em) of a wide sans-serif (DejaVu; digits are 0.64 em): text is
# measured by these before it is placed, since SVG text does not wrap itself.
LABEL_EM, DIGIT_EM = 0.6, 0.64
LABEL_CHARS = int((WIDTH - 8) / (LABEL_PX * LABEL_EM))


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    log: bool

    def x(self, v: float) -> float:
        """The horizontal position of a value (a ratio on a log scale, so that 0.5 and 2 are equally far from 1)."""
        t = math.log if self.log else (lambda u: u)
        f = (t(v) - t(self.lo)) / (t(self.hi) - t(self.lo))
        return PLOT_LEFT + min(max(f, 0.0), 1.0) * (PLOT_RIGHT - PLOT_LEFT)


def forest_plot(outcome: str, measure: str, items: list[tuple[dict, dict]]) -> Markup:
    """An SVG forest plot of one outcome's estimates on one scale, with the line of no effect."""
    null = NO_EFFECT[measure]
    ticks, scale = axis(items, null, measure)
    rows, axis_y = _rows_svg(items, scale, null, top=30)
    height = axis_y + 42
    title = f"{outcome.replace('_', ' ')}: {measure} with 95% CI"
    sides = AXIS_WORDS[checked_side(better_side(outcome, measure), items, null)]
    return Markup("\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" class="forest" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="Forest plot: {escape(title)}">',
        f'<text x="{PLOT_LEFT}" y="16" font-size="{LABEL_PX}" font-weight="600" class="axis-title">{escape(title)}</text>',
        *rows,
        *_axis_svg(ticks, scale, axis_y, sides),
        "</svg>",
    ]))


def _rows_svg(items: list[tuple[dict, dict]], scale: "Scale", null: float, top: float) -> tuple[list[str], float]:
    """Each row: its label, the numbers (beside the label's last line when they fit), the interval."""
    parts, y = [], top
    for (_, e), label in zip(items, row_labels(items)):
        lines = wrap(label, LABEL_CHARS)
        parts.append(_label_svg(lines, y))
        value = f"{_num(e['value'])} ({_num(e['ci_low'])} to {_num(e['ci_high'])})"
        y += LINE_H * (len(lines) + (0 if _fits_beside(lines[-1], value) else 1))
        parts.append(_value_svg(value, y - LINE_H))
        parts.append(_estimate_svg(e, scale, y + CI_H / 2 - 2, null))
        y += CI_H
    return parts, y + 4


def _axis_svg(ticks: list[tuple[float, str]], scale: "Scale", axis_y: float, sides: tuple[str, str]) -> list[str]:
    left, right = sides
    return [
        f'<line x1="{PLOT_LEFT}" y1="{axis_y}" x2="{PLOT_RIGHT}" y2="{axis_y}" class="axis"/>',
        *(
            f'<text x="{scale.x(v):.1f}" y="{axis_y + 16}" text-anchor="middle" font-size="{SMALL_PX}" class="tick">{escape(t)}</text>'
            for v, t in ticks
        ),
        f'<text x="{PLOT_LEFT}" y="{axis_y + 34}" font-size="{SMALL_PX}" class="favours">{escape(left)}</text>',
        f'<text x="{PLOT_RIGHT}" y="{axis_y + 34}" text-anchor="end" font-size="{SMALL_PX}" class="favours">{escape(right)}</text>',
    ]


def _label_svg(lines: list[str], y: float) -> str:
    # The space between the spans keeps the words apart in the text read aloud.
    spans = " ".join(
        f'<tspan x="4" dy="{0 if i == 0 else LINE_H}">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    return f'<text x="4" y="{y + LABEL_PX:.1f}" font-size="{LABEL_PX}" class="label">{spans}</text>'


def _fits_beside(line: str, value: str) -> bool:
    return len(line) * LABEL_PX * LABEL_EM + 16 + len(value) * SMALL_PX * DIGIT_EM <= WIDTH - 8


def _value_svg(value: str, line_top: float) -> str:
    """The estimate and its interval as numbers, right-aligned on a label's line."""
    return (f'<text x="{WIDTH - 4}" y="{line_top + LABEL_PX:.1f}" text-anchor="end" font-size="{SMALL_PX}" '
            f'class="value">{escape(value)}</text>')


def _estimate_svg(e: dict, scale: Scale, y: float, null: float) -> str:
    half = CI_H / 2
    return "\n".join((
        # The line of no effect is drawn row by row, so that it never crosses a label.
        f'<line x1="{scale.x(null):.1f}" y1="{y - half + 3:.1f}" x2="{scale.x(null):.1f}" y2="{y + half:.1f}" class="null"/>',
        f'<line x1="{scale.x(e["ci_low"]):.1f}" y1="{y:.1f}" x2="{scale.x(e["ci_high"]):.1f}" y2="{y:.1f}" class="ci"/>',
        f'<rect x="{scale.x(e["value"]) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" class="point"/>',
    ))


# --- which side favours needling -------------------------------------------------

def better_side(outcome: str, measure: str) -> str | None:
    """'lower' or 'higher' when that side favours needling for this outcome and measure; None if unknown."""
    if measure not in DIFFERENCES:
        return None  # ratios (is the event good or bad?) and unsigned effect sizes
    if outcome in LOWER_IS_BETTER:
        return "lower"
    if outcome in HIGHER_IS_BETTER:
        return "higher"
    return None


def checked_side(side: str | None, items: list[tuple[dict, dict]], null: float) -> str | None:
    """The side, unless a study's own finding says otherwise: an interval wholly on the
    'favours comparator' side of a study that favours needling (e.g. days saved written
    as a positive difference) means the sign convention is not the one assumed."""
    if side is None:
        return None
    for row, e in items:
        direction = row["study"].get("direction")
        lower = e["ci_high"] < null
        higher = e["ci_low"] > null
        needling_side = lower if side == "lower" else higher
        comparator_side = higher if side == "lower" else lower
        if (direction == "favours_needling" and comparator_side) or (direction == "favours_comparator" and needling_side):
            return None
    return side


# --- ticks ------------------------------------------------------------------------

def axis(items: list[tuple[dict, dict]], null: float, measure: str) -> tuple[list[tuple[float, str]], Scale]:
    """Round tick values covering every interval and the line of no effect, each label once."""
    lo = min([e["ci_low"] for _, e in items] + [null])
    hi = max([e["ci_high"] for _, e in items] + [null])
    if measure in RATIOS and lo > 0:
        return log_ticks(lo, hi)
    return linear_ticks(lo, hi)


def linear_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[tuple[float, str]], Scale]:
    step = _nice_step((hi - lo) or 1.0, target)
    start, end = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = [(k * step, _num(round(k * step, decimals), decimals)) for k in range(start, end + 1)]
    return ticks, Scale(start * step, end * step, log=False)


def log_ticks(lo: float, hi: float) -> tuple[list[tuple[float, str]], Scale]:
    below = [t for t in LOG_TICKS if t <= lo] or [LOG_TICKS[0]]
    above = [t for t in LOG_TICKS if t >= hi] or [LOG_TICKS[-1]]
    chosen = [t for t in LOG_TICKS if below[-1] <= t <= above[0]]
    return [(t, _num(t)) for t in chosen], Scale(below[-1], above[0], log=True)


def _nice_step(span: float, target: int) -> float:
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude)


def _num(v: float, decimals: int | None = None) -> str:
    """A number as a reader writes it: no trailing zeros, a real minus sign, never "-0"."""
    text = f"{v:.{decimals}f}" if decimals is not None else f"{v:g}"
    if text.lstrip("-").strip("0.") == "":
        text = "0"
    return text.replace("-", "−")


# --- row labels -------------------------------------------------------------------

def row_labels(items: list[tuple[dict, dict]]) -> list[str]:
    """'Pourahmadi et al. 2021 [3] · TTH · short-term', each distinct."""
    labels = []
    for row, e in items:
        time = _lower_first((e.get("time_point") or "").strip())
        group = comparison(e) or subgroup(e, time)
        labels.append(" · ".join(x for x in (f"{first_author(row['study'])} [{row['ref']}]", group, time) if x))
    return _distinct(labels)


def first_author(study: dict) -> str:
    """'Pourahmadi et al. 2021', from the authors JSON and the year."""
    try:
        authors = json.loads(study.get("authors") or "[]")
    except (TypeError, ValueError):
        authors = []
    names = [a.get("collective_name") or a.get("last_name") for a in authors if isinstance(a, dict)]
    names = [n for n in names if n]
    who = (names[0] + (" et al." if len(names) > 1 else "")) if names else f"PMID {study.get('pmid', '?')}"
    return f"{who} {study.get('year') or 'n.d.'}"


def comparison(e: dict) -> str | None:
    """The effect's `comparison` column in a reader's words: 'Compared with sham' → 'vs sham'."""
    text = " ".join((e.get("comparison") or "").split())
    return f"vs {COMPARISON_LEAD.sub('', text)}" if text else None


def subgroup(e: dict, time: str) -> str | None:
    """The subgroup an estimate is reported for, as named just before its brackets:
    '... in TTH (SMD -1.27, ...' → 'TTH'. None when the sentence names none, or names
    only the time point again."""
    sentence, value_text = e.get("sentence") or "", e.get("value_text") or ""
    at = sentence.find(value_text) if value_text else -1
    head = sentence[:at].rstrip() if at > 0 else ""
    if not head.endswith(("(", "[")):
        return None
    found = SUBGROUP_BEFORE.search(head[:-1].rstrip())
    if not found:
        return None
    group = LEADING_JOINER.sub("", found.group(1).strip())
    if _squash(time) and (_squash(group) in _squash(time) or _squash(time) in _squash(group)):
        return None
    return group


def _lower_first(text: str) -> str:
    """'Short-term' (a sentence's first word) → 'short-term'; 'TTH' stays."""
    return text[0].lower() + text[1:] if text[:2].istitle() and text[1:2].islower() else text


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower()).removeprefix("the")


def _distinct(labels: list[str]) -> list[str]:
    """Number the rows whose labels would otherwise read alike."""
    counts = Counter(labels)  # not labels.count per label: quadratic in the rows
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        if counts[label] > 1:
            seen[label] = seen.get(label, 0) + 1
            label = f"{label} · estimate {seen[label]} of {counts[label]}"
        out.append(label)
    return out


def wrap(text: str, width: int, sep: str = " · ") -> list[str]:
    """Lines of at most `width` characters, broken between the label's parts where
    possible (a part is not split across lines), else between words. A line broken
    between parts keeps its separator, so the label reads (and is read aloud) whole."""
    lines: list[str] = []
    for part in text.split(sep):
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
            continue
        if lines:
            lines[-1] += sep.rstrip()
        lines.extend([part] if len(part) <= width else _wrap_words(part, width - len(sep)))
    return lines


def _wrap_words(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines
