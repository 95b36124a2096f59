"""The output is JSON (`contains: true`: holds a JSON object or array somewhere in the text, as in Markdown fences)."""
import json
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, per_input


def parse(text: str, *, anywhere: bool) -> tuple[bool, Any]:
    """(found, value): the whole text as JSON, or with `anywhere` the first object or array inside it."""
    try:
        return True, json.loads(text)
    except ValueError:
        if not anywhere:
            return False, None
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, start)
                return True, value
            except ValueError:
                continue
    return False, None


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    ok, _ = parse(item.output.strip(), anywhere=bool(params.get("contains")))
    where = "holds" if params.get("contains") else "is"
    return CheckResult(1.0 if ok else 0.0, ok, f"The output {where} valid JSON." if ok else f"The output {where} not valid JSON."
                       if not params.get("contains") else "No JSON object or array in the output.")


CHECK = Check("is_json", "Is JSON", "assertion", __doc__, per_input(one), defaults={"contains": False})
