"""PII (the data module's validated detectors: email, phone, card, IBAN, IP, SSN); redaction puts the type's
placeholder (<EMAIL>, <PHONE>, ...) in place. `types` limits the kinds."""
from typing import Any

from core.guardrails.base import Finding, Guard


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    from core.data.pii import PII_TYPES, _find, _resolve_types

    kinds = _resolve_types(params.get("types"))
    return [Finding(start, end, name, PII_TYPES[name].placeholder) for start, end, name in _find(text, kinds)]


GUARD = Guard("pii", "PII", __doc__, detect)
