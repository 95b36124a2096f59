"""promptfoo test files in and out: the `tests:` of a promptfooconfig.yaml (with `vars`, `assert`, `defaultTest`
and the first of `prompts`) become a suite, and a suite goes back out as such a file.

Assert types map onto the registered checks; what has no counterpart (code asserts such as `javascript` and
`python` are never run here, model-graded types other than `llm-rubric`) is reported, never dropped silently.
`not-<type>` is the mapped check with its verdict negated. promptfoo's 0-1 thresholds are rescaled where our check
uses another scale (BLEU 0-100, rubric scores 1-5, latency in seconds).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.evaluation import suites
from core.governance.roles import Actor
from core.storage.db import Store

MAX_FILE_BYTES = 5 * 1024 * 1024


def _value(a: dict) -> Any:
    return a.get("value")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _threshold(a: dict, default: float, scale: float = 1.0) -> float:
    value = a.get("threshold")
    return default if value is None else float(value) * scale


def _map_one(kind: str, a: dict) -> dict[str, Any] | None:
    """The check for one (un-negated) promptfoo assert type, or None when there is none."""
    v = _value(a)
    if kind == "equals":
        return {"check": "equals", "params": {"value": _text(v)}}
    if kind in ("contains", "icontains", "contains-any", "icontains-any", "contains-all", "icontains-all"):
        params: dict[str, Any] = {"value": v if isinstance(v, list) else _text(v)}
        if kind.startswith("i"):
            params["ignore_case"] = True
        if kind.endswith("-any"):
            params["mode"] = "any"
        return {"check": "contains", "params": params}
    if kind == "starts-with":
        return {"check": "regex", "params": {"value": r"^\s*" + re.escape(_text(v))}}
    if kind == "regex":
        return {"check": "regex", "params": {"value": _text(v)}}
    if kind in ("is-json", "contains-json"):
        params = {"contains": True} if kind == "contains-json" else {}
        if isinstance(v, dict):
            return {"check": "json_schema", "params": {**params, "schema": v}}
        return {"check": "is_json", "params": params}
    if kind == "similar":
        return {"check": "similarity", "params": {"value": _text(v), "threshold": _threshold(a, 0.75)}}
    if kind == "rouge-n":
        return {"check": "rouge", "params": {"value": _text(v), "threshold": _threshold(a, 0.75)}}
    if kind == "bleu":
        return {"check": "bleu", "params": {"value": _text(v), "threshold": _threshold(a, 0.5, 100.0)}}
    if kind == "levenshtein":
        return {"check": "levenshtein", "params": {"value": _text(v), "threshold": _threshold(a, 5)}}
    if kind == "llm-rubric":
        threshold = a.get("threshold")
        params = {"rubric": _text(v)}
        if threshold is not None:
            params["threshold"] = 1 + 4 * float(threshold)  # promptfoo's 0-1 score -> our 1-5 score
        return {"check": "judge_rubric", "params": params}
    if kind == "latency":
        return {"check": "latency", "params": {"threshold": _threshold(a, 5000) / 1000.0}}
    if kind == "cost":
        return {"check": "cost", "params": {"threshold": _threshold(a, 0.01)}}
    return None


def map_assert(a: Any) -> tuple[dict[str, Any] | None, str]:
    """(check spec or None, the assert type as written)."""
    if not isinstance(a, dict) or not isinstance(a.get("type"), str):
        return None, "<assert without a type>"
    kind = a["type"].strip()
    negate = False
    base = kind
    if kind in ("not-contains", "not-icontains"):
        spec = {"check": "not_contains", "params": {"value": _value(a) if isinstance(_value(a), list) else _text(_value(a))}}
        if kind == "not-icontains":
            spec["params"]["ignore_case"] = True
    else:
        if kind.startswith("not-"):
            negate, base = True, kind[4:]
        spec = _map_one(base, a)
        if spec is None:
            return None, kind
        if negate:
            spec["params"]["negate"] = True
    label = a.get("metric") or kind
    spec["label"] = str(label)
    return spec, kind


@dataclass(frozen=True)
class ImportResult:
    suite: suites.SuiteInfo
    unsupported: list[str]  # assert types not imported, each once, in the order met
    skipped: dict[str, int]  # how many asserts of each unsupported type were left out

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite.ref, "cases": self.suite.case_count, "unsupported": self.unsupported,
                "skipped": self.skipped}


def parse_config(text: str) -> dict[str, Any]:
    import yaml

    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise InvalidInput(f"The promptfoo file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" on line {where.line + 1}" if where else ""
        raise InvalidInput(f"The promptfoo file is not valid YAML{line}.") from None
    if isinstance(config, list):
        config = {"tests": config}  # a tests-only file (tests: file://cases.yaml)
    if not isinstance(config, dict) or not isinstance(config.get("tests"), list) or not config["tests"]:
        raise InvalidInput("The promptfoo file has no tests: list; give a promptfooconfig.yaml with inline tests.")
    return config


def _prompt_text(config: dict[str, Any]) -> str | None:
    prompts = config.get("prompts")
    if isinstance(prompts, str):
        prompts = [prompts]
    for prompt in prompts or []:
        if isinstance(prompt, dict):
            prompt = prompt.get("raw") or prompt.get("prompt")
        if isinstance(prompt, str) and prompt.strip() and not prompt.strip().startswith("file://"):
            return prompt
    return None


def import_text(store: Store, *, actor: Actor, text: str, name: str, prompt: str | None = None) -> ImportResult:
    """A suite from the text of a promptfoo config. Its first inline prompt becomes the prompt template `<name>`
    (a new version when it changed) unless `prompt` names one."""
    config = parse_config(text)
    skipped: Counter[str] = Counter()
    default = config.get("defaultTest") or {}
    default_vars = default.get("vars") or {} if isinstance(default, dict) else {}
    suite_checks = []
    for a in (default.get("assert") or []) if isinstance(default, dict) else []:
        spec, kind = map_assert(a)
        if spec is None:
            skipped[kind] += 1
        else:
            suite_checks.append(spec)
    cases = []
    for n, test in enumerate(config["tests"], start=1):
        if not isinstance(test, dict):
            raise InvalidInput(f"Test {n} of the promptfoo file is not a mapping with vars and assert.")
        variables = {**default_vars, **(test.get("vars") or {})}
        if not isinstance(variables, dict):
            raise InvalidInput(f"The vars of test {n} are not a mapping.")
        checks = []
        for a in test.get("assert") or []:
            spec, kind = map_assert(a)
            if spec is None:
                skipped[kind] += 1
            else:
                checks.append(spec)
        reference = None
        for spec in checks:  # the expected text of a comparing assert doubles as the case's reference
            if spec["check"] in ("equals", "similarity", "rouge", "bleu", "levenshtein") and not spec["params"].get("negate"):
                reference = spec["params"]["value"]
                break
        cases.append(suites.CaseIn(variables=variables, reference=reference, checks=checks,
                                   description=test.get("description")))
    if not prompt:
        body = _prompt_text(config)
        if body:
            from core.prompts import templates

            version, _ = templates.save_version(store, actor=actor, name=name, body=body,
                                                note="Imported from a promptfoo config.",
                                                description=f"Prompt of the evaluation suite {name}.")
            prompt = version.ref
    suite = suites.create_suite(store, actor=actor, name=name, cases=cases, checks=suite_checks, prompt=prompt,
                                description=config.get("description"), source="promptfoo")
    return ImportResult(suite=suite, unsupported=list(skipped), skipped=dict(skipped))


def _export_assert(spec: dict[str, Any]) -> dict[str, Any] | None:
    check, p = spec["check"], dict(spec.get("params") or {})
    negate = p.pop("negate", False)
    out: dict[str, Any] | None
    if check == "equals":
        out = {"type": "equals", "value": p.get("value")}
    elif check == "contains":
        many = isinstance(p.get("value"), list)
        kind = ("icontains" if p.get("ignore_case") else "contains") + (
            ("-any" if p.get("mode") == "any" else "-all") if many else "")
        out = {"type": kind, "value": p.get("value")}
    elif check == "not_contains":
        out = {"type": "not-icontains" if p.get("ignore_case") else "not-contains", "value": p.get("value")}
    elif check == "regex":
        out = {"type": "regex", "value": p.get("value")}
    elif check == "is_json":
        out = {"type": "contains-json" if p.get("contains") else "is-json"}
    elif check == "json_schema":
        out = {"type": "contains-json" if p.get("contains") else "is-json", "value": p.get("schema")}
    elif check == "similarity":
        out = {"type": "similar", "value": p.get("value"), "threshold": p.get("threshold", 0.75)}
    elif check == "rouge":
        out = {"type": "rouge-n", "value": p.get("value"), "threshold": p.get("threshold", 0.3)}
    elif check == "bleu":
        out = {"type": "bleu", "value": p.get("value"), "threshold": p.get("threshold", 20.0) / 100.0}
    elif check == "levenshtein":
        out = {"type": "levenshtein", "value": p.get("value"), "threshold": p.get("threshold", 5)}
    elif check == "judge_rubric":
        out = {"type": "llm-rubric", "value": p.get("rubric"), "threshold": (p.get("threshold", 4) - 1) / 4}
    elif check == "latency":
        out = {"type": "latency", "threshold": p.get("threshold", 5.0) * 1000}
    elif check == "cost":
        out = {"type": "cost", "threshold": p.get("threshold", 0.01)}
    else:
        return None
    if out.get("value") is None and "value" in out:
        return None  # compares with the case's reference: written per case below
    if negate:
        if out["type"].startswith("not-"):
            out["type"] = out["type"][4:]
        else:
            out["type"] = "not-" + out["type"]
    if spec.get("label") and spec["label"] not in (check, out["type"]):
        out["metric"] = spec["label"]
    return out


def export_suite(suite: suites.SuiteInfo, prompt_body: str | None = None) -> tuple[str, list[str]]:
    """(promptfooconfig.yaml text, checks with no promptfoo counterpart, each once)."""
    import yaml

    missing: list[str] = []

    def convert(specs: list[dict[str, Any]], reference: str | None) -> list[dict[str, Any]]:
        out = []
        for spec in specs:
            params = dict(spec.get("params") or {})
            if reference is not None and "value" not in params and spec["check"] in (
                    "equals", "similarity", "rouge", "bleu", "levenshtein"):
                params["value"] = reference
            mapped = _export_assert({**spec, "params": params})
            if mapped is None:
                if spec["check"] not in missing:
                    missing.append(spec["check"])
            else:
                out.append(mapped)
        return out

    config: dict[str, Any] = {"description": suite.description or f"Exported from the workbench suite {suite.ref}"}
    if prompt_body:
        config["prompts"] = [prompt_body]
    reference_free = [s for s in suite.checks if not suites.get_check(s["check"]).needs_reference
                      and s["check"] != "equals"]
    per_case = [s for s in suite.checks if s not in reference_free]
    default_asserts = convert(reference_free, None)
    if default_asserts:
        config["defaultTest"] = {"assert": default_asserts}
    tests = []
    for case in suite.cases:
        test: dict[str, Any] = {"vars": case.variables}
        if case.description:
            test["description"] = case.description
        asserts = convert(per_case, case.reference) + convert(case.checks, None)
        if asserts:
            test["assert"] = asserts
        tests.append(test)
    config["tests"] = tests
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True), missing
