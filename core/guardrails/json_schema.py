"""The output is JSON valid against `schema` (JSON Schema); flag or block (a reply that is not what the
application parses)."""
import json
from functools import lru_cache
from typing import Any

from core.guardrails.base import Finding, Guard


@lru_cache(maxsize=32)
def _validator(schema_text: str):
    from core.evaluation.checks.json_schema import validator

    return validator(json.loads(schema_text))


def check(params: dict[str, Any]) -> None:
    _validator(json.dumps(params.get("schema"), sort_keys=True))


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    checker = _validator(json.dumps(params.get("schema"), sort_keys=True))
    try:
        value = json.loads(text)
    except ValueError:
        return [Finding(0, len(text), "not JSON")]
    error = next(iter(checker.iter_errors(value)), None)
    if error is None:
        return []
    where = "/".join(map(str, error.path)) or "top level"
    return [Finding(0, len(text), f"schema: at {where}: {error.message}"[:200])]


GUARD = Guard("json_schema", "JSON schema", __doc__, detect, actions=("flag", "block"), stages=("output",),
              check_params=check)
