"""A project's rating schema: the questions, what an answer to each may be, and how shown answers map to stored ones.

Answers are stored in the item's own response order ("A" is the item's first response), never as an annotator
saw them: each annotator sees the responses of a pairwise or ranking item in their own shuffled order, and the
value they give is mapped back here, so two annotators who preferred the same output store the same value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput

KINDS = ("likert", "thumbs", "pairwise", "ranking", "text", "tags")
# Krippendorff's level of measurement for each kind whose answers can agree or not.
LEVELS = {"likert": "ordinal", "thumbs": "nominal", "pairwise": "nominal"}
SIDES = "ABCDEFGH"
TIE = "tie"
MAX_TEXT = 20_000
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

DEFAULT_ANCHORS = {"1": "Very poor", "2": "Poor", "3": "Acceptable", "4": "Good", "5": "Excellent"}


@dataclass(frozen=True)
class Question:
    name: str
    kind: str
    label: str = ""
    help: str = ""
    scale: int = 5  # likert: answers 1..scale
    anchors: dict[str, str] = field(default_factory=dict)  # likert: what a score means, {"1": "...", "5": "..."}
    options: tuple[str, ...] = ()  # tags: the labels to choose from
    required: bool = True

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def level(self) -> str | None:
        return LEVELS.get(self.kind)

    @property
    def needs_pair(self) -> bool:
        return self.kind == "pairwise"

    @property
    def needs_many(self) -> bool:
        return self.kind in ("pairwise", "ranking")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "label": self.label, "help": self.help, "scale": self.scale,
                "anchors": dict(self.anchors), "options": list(self.options), "required": self.required}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Question":
        if not isinstance(data, dict):
            raise InvalidInput("Each question must be an object with at least a name and a kind.")
        known = {"name", "kind", "label", "help", "scale", "anchors", "options", "required"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"Question field(s) {', '.join(unknown)} are not known; use {', '.join(sorted(known))}.")
        kind = str(data.get("kind", "")).strip().lower()
        return make_question(str(data.get("name", "")), kind, label=str(data.get("label") or ""),
                             help=str(data.get("help") or ""), scale=data.get("scale", 5),
                             anchors=data.get("anchors") or {}, options=data.get("options") or (),
                             required=data.get("required"))


def make_question(name: str, kind: str, *, label: str = "", help: str = "", scale: Any = 5,
                  anchors: dict | None = None, options=(), required: bool | None = None) -> Question:
    name = (name or "").strip().lower()
    if not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid question name: use lower-case letters, digits and underscores, "
                           "starting with a letter (up to 64).")
    if kind not in KINDS:
        raise InvalidInput(f"'{kind}' is not a question kind; choose one of {', '.join(KINDS)}.")
    try:
        scale = int(scale)
    except (TypeError, ValueError):
        raise InvalidInput(f"The scale of question '{name}' must be a whole number.") from None
    if kind == "likert" and not 2 <= scale <= 10:
        raise InvalidInput(f"The Likert scale of question '{name}' must run from 1 to between 2 and 10, not {scale}.")
    anchors = {str(k): str(v) for k, v in (anchors or {}).items()}
    if kind == "likert":
        anchors = anchors or ({k: v for k, v in DEFAULT_ANCHORS.items()} if scale == 5 else {})
        bad = [k for k in anchors if not k.isdigit() or not 1 <= int(k) <= scale]
        if bad:
            raise InvalidInput(f"Anchor(s) {', '.join(bad)} of question '{name}' are outside its scale 1-{scale}.")
    options = tuple(dict.fromkeys(str(o).strip() for o in options if str(o).strip()))
    if kind == "tags" and not options:
        raise InvalidInput(f"Question '{name}' is a tags question: give its labels, e.g. {name}:tags=rude,off_topic.")
    if required is None:
        required = kind not in ("text", "tags")
    return Question(name=name, kind=kind, label=label.strip()[:200], help=help.strip()[:1000], scale=scale,
                    anchors=anchors, options=options, required=bool(required))


def parse_question(spec: str) -> Question:
    """'helpfulness:likert', 'helpfulness:likert=7', 'issues:tags=rude,off_topic,wrong', 'better:pairwise'."""
    name, sep, rest = (spec or "").partition(":")
    if not sep:
        raise InvalidInput(f"'{spec}' is not a question: write NAME:KIND with KIND one of {', '.join(KINDS)}.")
    kind, _, options = rest.partition("=")
    kind = kind.strip().lower()
    if kind == "likert":
        return make_question(name, kind, scale=options.strip() or 5)
    if kind == "tags":
        return make_question(name, kind, options=options.split(","))
    if options:
        raise InvalidInput(f"Question kind '{kind}' takes no options ('{spec}').")
    return make_question(name, kind)


def check_questions(questions: list[Question], *, responses: int) -> list[Question]:
    """The schema as a whole fits items with `responses` outputs each."""
    if not questions:
        raise InvalidInput("A project needs at least one question (e.g. --question helpfulness:likert).")
    names = [q.name for q in questions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInput(f"Question name(s) {', '.join(repeated)} appear more than once.")
    for q in questions:
        if q.kind == "pairwise" and responses != 2:
            raise InvalidInput(f"Question '{q.name}' is pairwise, which needs items with two responses; this source "
                               f"gives {responses} per item (use pairs of cells, or two response columns).")
        if q.kind == "ranking" and responses < 2:
            raise InvalidInput(f"Question '{q.name}' ranks outputs, which needs items with two or more responses.")
        if q.kind in ("likert", "thumbs", "text") and responses != 1:
            raise InvalidInput(f"Question '{q.name}' ({q.kind}) rates one response, but items here hold {responses}; "
                               "use a pairwise or ranking question, or make one item per output.")
    return questions


# --- answers ----------------------------------------------------------------------------------------------

def to_stored(question: Question, value: Any, order: list[int]) -> Any:
    """An answer as the annotator gave it (sides as shown) -> the stored value (sides in the item's order)."""
    what = f"question '{question.name}'"
    kind = question.kind
    if kind == "likert":
        try:
            number = int(value) if not isinstance(value, bool) and float(value) == int(float(value)) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not 1 <= number <= question.scale:
            raise InvalidInput(f"The answer to {what} must be a whole number from 1 to {question.scale}, not {value!r}.")
        return number
    if kind == "thumbs":
        text = str(value).strip().lower()
        if text in ("up", "1", "true", "yes", "👍"):
            return 1
        if text in ("down", "0", "false", "no", "👎"):
            return 0
        raise InvalidInput(f"The answer to {what} must be up or down, not {value!r}.")
    if kind == "pairwise":
        text = str(value).strip()
        if text.lower() in ("tie", "t", "="):
            return TIE
        shown = _side_index(text, 2)
        if shown is None:
            raise InvalidInput(f"The answer to {what} must be A, B or tie, not {value!r}.")
        return SIDES[order[shown]]
    if kind == "ranking":
        if isinstance(value, str):
            value = [v for v in re.split(r"[\s,>]+", value) if v]
        if not isinstance(value, (list, tuple)):
            raise InvalidInput(f"The answer to {what} must list the outputs best first, e.g. [\"B\", \"A\", \"C\"].")
        shown = [_side_index(str(v), len(order)) for v in value]
        if None in shown or sorted(shown) != list(range(len(order))):
            raise InvalidInput(f"The answer to {what} must name each of {', '.join(SIDES[:len(order)])} once, best first.")
        return [SIDES[order[i]] for i in shown]
    if kind == "text":
        if not isinstance(value, str):
            raise InvalidInput(f"The answer to {what} must be text.")
        if len(value) > MAX_TEXT:
            raise InvalidInput(f"The answer to {what} is longer than {MAX_TEXT:,} characters.")
        return value
    if kind == "tags":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise InvalidInput(f"The answer to {what} must be a list of labels.")
        unknown = [str(v) for v in value if str(v) not in question.options]
        if unknown:
            raise InvalidInput(f"Label(s) {', '.join(unknown)} are not options of {what} "
                               f"({', '.join(question.options)}).")
        return sorted(dict.fromkeys(str(v) for v in value), key=list(question.options).index)
    raise InvalidInput(f"Unknown question kind '{kind}'.")


def to_shown(question: Question, value: Any, order: list[int]) -> Any:
    """A stored value as the annotator with this side order sees it (to show their earlier answer)."""
    if value is None:
        return None
    if question.kind == "pairwise":
        if value == TIE:
            return TIE
        return SIDES[order.index(SIDES.index(value))]
    if question.kind == "ranking":
        return [SIDES[order.index(SIDES.index(v))] for v in value]
    return value


def _side_index(text: str, count: int) -> int | None:
    text = text.strip().upper()
    if len(text) == 1 and text in SIDES[:count]:
        return SIDES.index(text)
    if text.isdigit() and 1 <= int(text) <= count:
        return int(text) - 1
    return None
