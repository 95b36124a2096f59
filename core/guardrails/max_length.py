"""Maximum length in characters (`max_chars`); redaction cuts the text there."""
from typing import Any

from core.errors import InvalidInput
from core.guardrails.base import Finding, Guard


def check(params: dict[str, Any]) -> None:
    value = params.get("max_chars")
    if not isinstance(value, int) or value < 1:
        raise InvalidInput("A max-length guard needs max_chars, a whole number of at least 1.")


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    limit = int(params["max_chars"])
    if len(text) <= limit:
        return []
    return [Finding(limit, len(text), f"{len(text)} characters, over {limit}", "")]


GUARD = Guard("max_length", "Maximum length", __doc__, detect, check_params=check)
