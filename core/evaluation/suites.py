"""Evaluation suites: named, immutable versions of test cases with a prompt template version and checks.

A case holds its variables (what the prompt template reads), an optional reference answer and its own checks (a
promptfoo test's asserts); the suite's checks run on every case. Saving a suite under an existing name makes the
next version; a suite made from a dataset version records it (`dataset_version`), so results trace back to data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from core.data import versions
from core.errors import InvalidInput, NotFound
from core.evaluation.checks import CHECKS, CheckInput, get_check, run_check
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import EvalCase, EvalSuite

MAX_CASES = 5000
INPUT_VARIABLES = ("input", "prompt", "question", "query", "message", "body")
SOURCES = ("manual", "dataset", "promptfoo")


def validate_suite_name(name: str) -> str:
    return versions.check_name(name, "suite")


def parse_ref(ref: str) -> tuple[str, int | None]:
    return versions.split_ref(ref, "suite")


def check_spec(spec: Any) -> dict[str, Any]:
    """A check as a suite stores it: {"check": name, "params": {...}, "label": str}; parameters are tried once."""
    if isinstance(spec, str):
        spec = {"check": spec}
    if not isinstance(spec, dict) or "check" not in spec:
        raise InvalidInput("A check is an object with at least a check name, e.g. {\"check\": \"contains\", "
                           "\"params\": {\"value\": \"refund\"}}.")
    check = get_check(str(spec["check"]))
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidInput(f"The parameters of the {check.name} check must be an object.")
    if check.kind in ("assertion", "safety", "performance"):  # metric checks would load their libraries here
        run_check(check.name, [CheckInput(output="", reference="")], params)  # bad patterns, schemas, bounds fail here
    if check.name == "judge_rubric" and not str(params.get("rubric") or "").strip():
        raise InvalidInput("A judge rubric check needs the rubric text in rubric.")
    out = {"check": check.name, "params": params, "label": str(spec.get("label") or check.name)[:100]}
    if spec.get("safety") or check.kind == "safety":
        out["safety"] = True
    return out


@dataclass(frozen=True)
class CaseIn:
    variables: dict[str, Any]
    reference: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    description: str | None = None


@dataclass(frozen=True)
class CaseInfo:
    position: int
    variables: dict[str, Any]
    reference: str | None
    checks: list[dict[str, Any]]
    description: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "description": self.description, "variables": self.variables,
                "reference": self.reference, "checks": self.checks}


@dataclass(frozen=True)
class SuiteInfo:
    id: int
    name: str
    version: int
    description: str | None
    prompt: str | None
    dataset_version: str | None
    settings: dict[str, Any]
    checks: list[dict[str, Any]]
    case_count: int
    source: str
    created_at: datetime
    created_by: str
    cases: tuple[CaseInfo, ...] = field(default=(), repr=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def label(self) -> str:
        return f"{self.ref} · {self.case_count} cases · {len(self.checks)} checks"

    def to_dict(self, *, with_cases: bool = False) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "ref": self.ref, "description": self.description,
               "prompt": self.prompt, "dataset_version": self.dataset_version, "settings": self.settings,
               "checks": self.checks, "cases": self.case_count, "source": self.source,
               "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by}
        if with_cases:
            out["cases"] = [c.to_dict() for c in self.cases]
        return out


def _info(row: EvalSuite, cases: list[EvalCase] | None = None) -> SuiteInfo:
    infos = tuple(CaseInfo(position=c.position, variables=dict(c.variables or {}), reference=c.reference,
                           checks=list(c.checks or []), description=c.description)
                  for c in sorted(cases or [], key=lambda c: c.position))
    return SuiteInfo(id=row.id, name=row.name, version=row.version, description=row.description, prompt=row.prompt,
                     dataset_version=row.dataset_version, settings=dict(row.settings or {}),
                     checks=list(row.checks or []), case_count=row.cases, source=row.source,
                     created_at=row.created_at, created_by=row.created_by, cases=infos)


def _plain(value: Any) -> Any:
    """A JSON-safe value for a case variable (numpy scalars, NaN, timestamps from a dataset's frame)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool, list, dict)):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def create_suite(store: Store, *, actor: Actor, name: str, cases: list[CaseIn], checks: list[Any] = (),
                 prompt: str | None = None, description: str | None = None, dataset_version: str | None = None,
                 settings: dict[str, Any] | None = None, source: str = "manual") -> SuiteInfo:
    """Saves the next version of suite `name` (version 1 for a new name)."""
    require(actor, Permission.MANAGE_EVALUATIONS)
    name = validate_suite_name(name)
    if not cases:
        raise InvalidInput("A suite needs at least one case.")
    if len(cases) > MAX_CASES:
        raise InvalidInput(f"A suite holds at most {MAX_CASES:,} cases; this one has {len(cases):,}.")
    if source not in SOURCES:
        raise InvalidInput(f"Unknown suite source {source!r}.")
    specs = [check_spec(spec) for spec in checks]
    case_specs = [[check_spec(spec) for spec in case.checks] for case in cases]
    if not specs and not any(case_specs):
        raise InvalidInput("A suite needs at least one check, for all cases or in a case.")
    settings = dict(settings or {})
    if prompt:
        from core.prompts import templates

        version = templates.get_version(store, actor=actor, ref=prompt)
        prompt = version.ref  # pinned: a label may move later, the suite must not
        missing = sorted({v for v in version.variables for case in cases if v not in case.variables})
        if missing:
            raise InvalidInput(f"The prompt {prompt} reads {', '.join(missing)}, which some cases do not set.")
    else:
        settings["input_variable"] = input_variable(cases, settings.get("input_variable"))
    with store.write() as session:
        latest = session.exec(select(func.max(EvalSuite.version)).where(EvalSuite.name == name)).one() or 0
        row = EvalSuite(name=name, version=latest + 1, description=description, prompt=prompt,
                        dataset_version=dataset_version, settings=settings, checks=specs, cases=len(cases),
                        source=source, created_by=actor.name)
        session.add(row)
        session.flush()
        rows = [EvalCase(suite_id=row.id, position=i, description=(case.description or None) and str(case.description)[:1000],
                         variables={str(k): _plain(v) for k, v in case.variables.items()},
                         reference=None if case.reference is None else str(case.reference), checks=case_specs[i])
                for i, case in enumerate(cases)]
        session.add_all(rows)
        audit.record(session=session, actor=actor, action="eval.suite.create", target_type="eval_suite",
                     target_id=f"{name}@{row.version}",
                     after={"cases": len(cases), "checks": [s["label"] for s in specs], "prompt": prompt,
                            "source": source, "dataset_version": dataset_version})
        session.flush()
        return _info(row, rows)


def input_variable(cases: list[CaseIn], chosen: str | None = None) -> str:
    """Without a prompt template, the variable whose value is the user message."""
    names = set().union(*(case.variables.keys() for case in cases))
    if chosen:
        if chosen not in names:
            raise InvalidInput(f"No case has the variable {chosen!r} to use as the model's input.")
        return chosen
    for name in INPUT_VARIABLES:
        if name in names:
            return name
    if len(names) == 1:
        return next(iter(names))
    raise InvalidInput("Without a prompt template, say which variable is the model's input "
                       f"(one of {', '.join(sorted(names)) or 'none'}).")


def suite_from_dataset(store: Store, *, actor: Actor, name: str, dataset_version: str, checks: list[Any],
                       prompt: str | None = None, reference_column: str | None = None, rows: int | None = None,
                       input_column: str | None = None, description: str | None = None) -> SuiteInfo:
    """A suite whose cases are the first `rows` rows of a dataset version (every column a variable)."""
    version = versions.get_version(store, actor=actor, ref=dataset_version)
    frame = versions.load_frame(store, actor=actor, version=version)
    if reference_column and reference_column not in frame.columns:
        raise InvalidInput(f"{version.ref} has no column {reference_column!r}.")
    if rows is not None:
        if rows < 1:
            raise InvalidInput("The number of rows must be at least 1.")
        frame = frame.head(rows)
    cases = [CaseIn(variables={k: v for k, v in record.items()},
                    reference=None if not reference_column or _plain(record.get(reference_column)) is None
                    else str(record[reference_column]))
             for record in frame.to_dict(orient="records")]
    settings = {"reference_column": reference_column, "rows": len(cases)}
    if input_column:
        settings["input_variable"] = input_column
    return create_suite(store, actor=actor, name=name, cases=cases, checks=checks, prompt=prompt,
                        description=description, dataset_version=version.ref, settings=settings, source="dataset")


def _require_view(actor: Actor) -> None:
    require(actor, Permission.VIEW_MODELS)


def get_suite(store: Store, *, actor: Actor, ref: str, with_cases: bool = True) -> SuiteInfo:
    _require_view(actor)
    name, number = parse_ref(ref)
    with store.read() as session:
        query = select(EvalSuite).where(EvalSuite.name == name)
        query = query.where(EvalSuite.version == number) if number else query.order_by(col(EvalSuite.version).desc())
        row = session.exec(query).first()
        if row is None:
            raise NotFound(f"There is no evaluation suite {ref!r}.", hint="`workbench eval suites list` shows them.")
        cases = list(session.exec(select(EvalCase).where(EvalCase.suite_id == row.id))) if with_cases else None
        info = _info(row, cases)
    if info.cases and not actor.can(Permission.VIEW_DATA_ROWS):
        # Viewers (managers) read scores, never the cases' prompts or references, nor a case's own check
        # parameters (an expected text such as promptfoo's `equals: Paris` is a reference too).
        info = replace(info, cases=tuple(replace(c, variables={}, reference=None,
                                                 checks=[{**x, "params": {}} for x in c.checks])
                                         for c in info.cases))
    return info


def list_suites(store: Store, *, actor: Actor) -> list[SuiteInfo]:
    """The latest version of every suite, by name."""
    _require_view(actor)
    with store.read() as session:
        latest = select(EvalSuite.name, func.max(EvalSuite.version).label("v")).group_by(EvalSuite.name).subquery()
        rows = session.exec(select(EvalSuite).join(latest, (EvalSuite.name == latest.c.name)
                                                   & (EvalSuite.version == latest.c.v)).order_by(EvalSuite.name))
        return [_info(row) for row in rows]


def case_messages(suite: SuiteInfo, case: CaseInfo, prompt_version=None) -> list[dict[str, str]]:
    """The conversation a model answers for a case: the suite's prompt template, else the input variable."""
    if prompt_version is not None:
        return prompt_version.messages(case.variables)
    value = case.variables.get(suite.settings.get("input_variable") or "input")
    if value is None:
        raise InvalidInput(f"Case {case.position + 1} of {suite.ref} has no input.")
    return [{"role": "user", "content": str(value)}]


def checks_of(suite: SuiteInfo, case: CaseInfo) -> list[dict[str, Any]]:
    """Every check that runs on a case: the suite's, then its own."""
    return list(suite.checks) + list(case.checks)


def count_suites(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count(func.distinct(EvalSuite.name)))).one()


__all__ = ["CHECKS", "CaseIn", "CaseInfo", "SuiteInfo", "create_suite", "get_suite", "list_suites",
           "suite_from_dataset"]
