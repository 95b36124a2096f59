"""A deny-list of words or phrases (whole words, case-insensitive) and regular expressions."""
import re
from functools import lru_cache
from typing import Any

from core.errors import InvalidInput
from core.guardrails.base import Finding, Guard


@lru_cache(maxsize=64)
def _compiled(words: tuple[str, ...], patterns: tuple[str, ...]) -> list[tuple[str, re.Pattern]]:
    out = []
    for word in words:
        out.append((f"word {word!r}", re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)))
    for pattern in patterns:
        try:
            out.append((f"pattern {pattern!r}", re.compile(pattern, re.IGNORECASE)))
        except re.error as exc:
            raise InvalidInput(f"The deny-list pattern {pattern!r} is not a valid regex: {exc}.") from None
    return out


def _parts(params: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    words = tuple(str(w) for w in params.get("words") or () if str(w).strip())
    patterns = tuple(str(p) for p in params.get("patterns") or () if str(p))
    return words, patterns


def check(params: dict[str, Any]) -> None:
    words, patterns = _parts(params)
    if not words and not patterns:
        raise InvalidInput("A deny-list guard needs words, patterns or both.")
    _compiled(words, patterns)


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    found = []
    for detail, pattern in _compiled(*_parts(params)):
        found += [Finding(m.start(), m.end(), detail) for m in pattern.finditer(text) if m.end() > m.start()]
    return found


GUARD = Guard("deny_list", "Deny-list", __doc__, detect, check_params=check)
