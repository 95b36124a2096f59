"""The output is JSON valid against the JSON Schema `schema` (jsonschema, Draft 2020-12); `contains: true` looks for
the JSON inside the text."""
from typing import Any

from core.errors import InvalidInput
from core.evaluation.checks.base import Check, CheckInput, CheckResult, per_input
from core.evaluation.checks.is_json import parse


def validator(schema: Any):
    import jsonschema

    if not isinstance(schema, dict):
        raise InvalidInput("A JSON-schema check needs the schema (a JSON object) in schema.")
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInput(f"The JSON schema is not valid: {exc.message}.") from None
    return cls(schema)


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    checker = validator(params.get("schema"))
    ok, value = parse(item.output.strip(), anywhere=bool(params.get("contains")))
    if not ok:
        return CheckResult(0.0, False, "The output is not JSON.")
    errors = sorted(checker.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(map(str, errors[0].path)) or "the top level"
        return CheckResult(0.0, False, f"At {where}: {errors[0].message}.")
    return CheckResult(1.0, True, "Valid against the schema.")


CHECK = Check("json_schema", "JSON schema", "assertion", __doc__, per_input(one))
