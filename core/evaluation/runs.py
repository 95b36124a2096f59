"""Evaluation runs: a suite version answered by one or more models (registered models, adapters or deployment
versions), every case's output and check results stored, then summarised with confidence intervals.

`start_run` checks the whole request and writes the run row (queued); `execute_run` generates (one batched call per
model), runs the checks (each check once per model over all its cases: metrics, embeddings and judges batch) and
stores the results; `run_evaluation` does both in this process (the CLI's --wait path). As a job (core.evaluation.jobs)
the same `execute_run` runs in the job process and reports progress; a cancel stops it between models and batches.

Model outputs are untrusted text: stored as plain strings, never interpreted (checks read them as data).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from core.errors import Conflict, InvalidInput, NotFound, WorkbenchError
from core.evaluation import stats, suites
from core.evaluation.checks import CheckInput, get_check, run_check
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.inference.generate import GenerationSettings
from core.storage.db import Store
from core.storage.tables import EvalResult, EvalRun, utcnow

DEPLOYMENT_PREFIX = "deployment:"
MAX_MODELS = 6
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
DEFAULT_SETTINGS = GenerationSettings(max_new_tokens=128)

Progress = Callable[[int, int], None]


# --- targets: what answers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str  # as asked: a model name or deployment:NAME@V
    model: str  # the registered model that generates
    settings: GenerationSettings
    template: str | None = None  # a deployment version's prompt template (ref), rendered around each case


def _settings_with(base: GenerationSettings, defaults: dict[str, Any]) -> GenerationSettings:
    values = asdict(base)
    mapping = {"max_tokens": "max_new_tokens", "temperature": "temperature", "top_p": "top_p", "seed": "seed",
               "stop": "stop"}
    for key, target in mapping.items():
        if defaults.get(key) is not None:
            values[target] = tuple(defaults[key]) if key == "stop" else defaults[key]
    return GenerationSettings(**values)


def resolve_target(store: Store, *, actor: Actor, name: str, settings: GenerationSettings) -> Target:
    """A registered chat model, or `deployment:NAME[@V]` (a deployment version: its model, generation defaults and
    prompt template; without @V the version that serves now)."""
    from core.inference import engines

    name = (name or "").strip()
    if name.startswith(DEPLOYMENT_PREFIX):
        from core.serving import deployments

        ref = name[len(DEPLOYMENT_PREFIX):]
        deployment_name, _, number = ref.partition("@")
        info = deployments.get_deployment(store, actor=actor, name=deployment_name)
        if number and not number.isdigit():
            raise InvalidInput(f"'{name}' is not a deployment version: write deployment:NAME@N.")
        version = info.version(int(number)) if number else info.current
        if version is None:
            raise NotFound(f"The deployment '{deployment_name}' has no version {number or 'serving now'}.")
        engines.chat_model_info(store, actor=actor, name=version.model)
        return Target(name=f"{DEPLOYMENT_PREFIX}{version.ref}", model=version.model,
                      settings=_settings_with(settings, version.defaults), template=version.template or None)
    engines.chat_model_info(store, actor=actor, name=name)
    return Target(name=name, model=name, settings=settings)


# --- results ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResultInfo:
    position: int
    model: str
    output: str | None
    latency_s: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    checks: list[dict[str, Any]]
    error: str | None

    @property
    def passed(self) -> bool | None:
        """The case passes when every decided check passes (the pairwise judge, a comparison, aside)."""
        decided = [c["passed"] for c in self.checks if c["passed"] is not None and c["check"] != "judge_pairwise"]
        if self.error:
            return False
        return all(decided) if decided else None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "output": self.output, "passed": self.passed, "latency_s": self.latency_s,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "cost_usd": self.cost_usd,
                "checks": self.checks, "error": self.error}


@dataclass(frozen=True)
class RunInfo:
    id: int
    suite: str
    models: list[str]
    baseline: str | None
    judge: str | None
    status: str
    settings: dict[str, Any]
    done: int
    total: int
    summary: dict[str, Any] | None
    error: str | None
    job_id: int | None
    created_at: datetime
    created_by: str
    finished_at: datetime | None
    results: tuple[ResultInfo, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        return f"#{self.id} {self.suite} · {', '.join(self.models)} · {self.status} · {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")

    def by_model(self) -> dict[str, list[ResultInfo]]:
        out: dict[str, list[ResultInfo]] = {m: [] for m in self.models}
        for result in self.results:
            out.setdefault(result.model, []).append(result)
        return {m: sorted(rs, key=lambda r: r.position) for m, rs in out.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "suite": self.suite, "models": self.models, "baseline": self.baseline,
                "judge": self.judge, "status": self.status, "settings": self.settings, "done": self.done,
                "total": self.total, "error": self.error, "job_id": self.job_id,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
                "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None}


def _result_info(row: EvalResult) -> ResultInfo:
    return ResultInfo(position=row.position, model=row.model, output=row.output, latency_s=row.latency_s,
                      tokens_in=row.tokens_in, tokens_out=row.tokens_out, cost_usd=row.cost_usd,
                      checks=list(row.checks or []), error=row.error)


def _run_info(row: EvalRun, results: list[EvalResult] | None = None) -> RunInfo:
    return RunInfo(id=row.id, suite=row.suite, models=list(row.models), baseline=row.baseline, judge=row.judge,
                   status=row.status, settings=dict(row.settings or {}), done=row.done, total=row.total,
                   summary=row.summary, error=row.error, job_id=row.job_id, created_at=row.created_at,
                   created_by=row.created_by, finished_at=row.finished_at,
                   results=tuple(_result_info(r) for r in results or ()))


# --- starting and running -----------------------------------------------------------------------------------

def _uses(suite: suites.SuiteInfo, check: str) -> bool:
    return any(spec["check"] == check for case in suite.cases for spec in suites.checks_of(suite, case))


def start_run(store: Store, *, actor: Actor, suite: str, models: list[str], judge: str | None = None,
              baseline: str | None = None, settings: GenerationSettings = DEFAULT_SETTINGS,
              judge_max_new_tokens: int = 96) -> RunInfo:
    """Checks the request and writes the run row, queued. Nothing is generated yet."""
    require(actor, Permission.MANAGE_EVALUATIONS)
    require(actor, Permission.RUN_INFERENCE)
    info = suites.get_suite(store, actor=actor, ref=suite)
    names = list(dict.fromkeys(m.strip() for m in models if m and m.strip()))
    if not names:
        raise InvalidInput("Choose at least one model to evaluate.")
    if len(names) > MAX_MODELS:
        raise InvalidInput(f"An evaluation run takes at most {MAX_MODELS} models; {len(names)} were given.")
    targets = [resolve_target(store, actor=actor, name=name, settings=settings) for name in names]
    needs_judge = _uses(info, "judge_rubric") or (_uses(info, "judge_pairwise") and len(targets) > 1)
    if needs_judge and not judge:
        raise InvalidInput(f"The suite {info.ref} has judge checks; choose a judge model.")
    if judge:
        from core.inference import engines

        engines.chat_model_info(store, actor=actor, name=judge)
    resolved = [t.name for t in targets]
    if baseline:
        base = resolve_target(store, actor=actor, name=baseline, settings=settings).name
        if base not in resolved:
            raise InvalidInput(f"The baseline {baseline} must be one of the run's models.")
    else:
        base = resolved[0] if len(resolved) > 1 else None
    generation = asdict(settings)
    generation["stop"] = list(settings.stop)
    with store.write() as session:
        row = EvalRun(suite_id=info.id, suite=info.ref, models=resolved, baseline=base, judge=judge or None,
                      status="queued", settings={"generation": generation, "judge_max_new_tokens": judge_max_new_tokens}, total=info.case_count * len(targets),
                      created_by=actor.name)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="eval.run.start", target_type="eval_run", target_id=row.id,
                     after={"suite": info.ref, "models": resolved, "baseline": base, "judge": judge})
        session.flush()
        return _run_info(row)


def _update(store: Store, run_id: int, **changes) -> EvalRun:
    with store.write() as session:
        row = session.get(EvalRun, run_id)
        for key, value in changes.items():
            setattr(row, key, value)
        session.add(row)
        session.flush()
        return row


def _cancel_requested(store: Store, run_id: int) -> bool:
    with store.read() as session:
        return bool(session.exec(select(EvalRun.cancel_requested).where(EvalRun.id == run_id)).one())


class RunCancelled(Conflict):
    pass


def _spec_key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def score_outputs(suite: suites.SuiteInfo, outputs: list[dict[str, Any]], *, judge=None, encode=None,
                  baseline_outputs: list[str | None] | None = None) -> list[list[dict[str, Any]]]:
    """Every check of every case on one model's outputs ({"output", "prompt", "latency_s", "cost_usd"} per case, in
    case order); returns per case the list of check results. Each distinct check runs once over all its cases."""
    groups: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for case in suite.cases:
        for spec in suites.checks_of(suite, case):
            groups.setdefault(_spec_key(spec), (spec, []))[1].append(case.position)
    per_case: list[list[dict[str, Any]]] = [[] for _ in suite.cases]
    for spec, positions in groups.values():
        check = get_check(spec["check"])
        ready = [p for p in positions if outputs[p].get("output") is not None]
        inputs = [CheckInput(output=outputs[p]["output"], reference=suite.cases[p].reference,
                             prompt=outputs[p].get("prompt", ""), variables=suite.cases[p].variables,
                             baseline_output=None if baseline_outputs is None else baseline_outputs[p],
                             latency_s=outputs[p].get("latency_s"), cost_usd=outputs[p].get("cost_usd"),
                             judge=judge, encode=encode) for p in ready]
        try:
            results = run_check(spec["check"], inputs, spec.get("params") or {}) if inputs else []
        except WorkbenchError as exc:
            results = [None] * len(inputs)
            error = exc.message
        for p, result in zip(ready, results):
            entry = {"check": check.name, "label": spec.get("label") or check.name, "type": check.kind,
                     "safety": bool(spec.get("safety")),
                     "value": None if result is None else result.value,
                     "passed": None if result is None else result.passed,
                     "explanation": error if result is None else result.explanation}
            per_case[p].append(entry)
    return per_case


def execute_run(store: Store, *, actor: Actor, run_id: int, progress: Progress | None = None) -> RunInfo:
    """Generates and checks a queued run; stores the results model by model. Ends succeeded, failed or cancelled."""
    from core.inference import engines
    from core.models import registry

    run = get_run(store, actor=actor, run_id=run_id, with_results=False)
    if run.status != "queued":
        raise Conflict(f"Evaluation run {run_id} is {run.status}; only a queued run can start.")
    _update(store, run_id, status="running")
    try:
        suite = suites.get_suite(store, actor=actor, ref=run.suite)
        prompt_version = None
        if suite.prompt:
            from core.prompts import templates

            prompt_version = templates.get_version(store, actor=actor, ref=suite.prompt)
        conversations = [suites.case_messages(suite, case, prompt_version) for case in suite.cases]
        prompts = [next((m["content"] for m in reversed(c) if m["role"] == "user"), "") for c in conversations]
        generation = dict(run.settings.get("generation") or {})
        generation["stop"] = tuple(generation.get("stop") or ())
        base_settings = GenerationSettings(**generation)
        outputs: dict[str, list[dict[str, Any]]] = {}
        done = 0
        for target_name in run.models:
            if _cancel_requested(store, run_id):
                raise RunCancelled("The evaluation run was cancelled.")
            target = resolve_target(store, actor=actor, name=target_name, settings=base_settings)
            info = registry.get_model(store, actor=actor, name=target.model)

            def report(n: int, total: int, offset=done) -> None:
                if progress:
                    progress(offset + n, run.total)

            asked = conversations if not target.template else _through_template(store, actor, target, suite,
                                                                                   conversations)
            generations = engines.complete_chats(store, actor=actor, model=target.model, conversations=asked,
                                                 settings=target.settings, progress=report)
            outputs[target_name] = [{"output": g.output, "prompt": p, "latency_s": g.latency_s,
                                     "tokens_in": g.tokens_in, "tokens_out": g.tokens_out,
                                     "cost_usd": engines.cost_usd(info, g.tokens_in, g.tokens_out)}
                                    for g, p in zip(generations, prompts)]
            done += len(conversations)
            _update(store, run_id, done=done)
        judge = encode = None
        if run.judge:
            from core.evaluation.judge import model_judge

            judge = model_judge(store, actor=actor, model=run.judge,
                                max_new_tokens=int(run.settings.get("judge_max_new_tokens") or 96))
        if _uses(suite, "similarity"):
            from core.evaluation.embedding import bundled_encoder

            encode = bundled_encoder(store.settings.models_dir)
        baseline_outputs = [o["output"] for o in outputs[run.baseline]] if run.baseline else None
        for target_name in run.models:
            if _cancel_requested(store, run_id):
                raise RunCancelled("The evaluation run was cancelled.")
            against = baseline_outputs if target_name != run.baseline else None
            scored = score_outputs(suite, outputs[target_name], judge=judge, encode=encode, baseline_outputs=against)
            with store.write() as session:
                session.add_all(EvalResult(run_id=run_id, position=p, model=target_name, output=o["output"],
                                           latency_s=o["latency_s"], tokens_in=o["tokens_in"],
                                           tokens_out=o["tokens_out"], cost_usd=o["cost_usd"], checks=scored[p])
                                for p, o in enumerate(outputs[target_name]))
        finished = get_run(store, actor=actor, run_id=run_id)
        _update(store, run_id, status="succeeded", finished_at=utcnow(), summary=summarise(finished))
    except RunCancelled:
        _update(store, run_id, status="cancelled", finished_at=utcnow(), error="Cancelled.")
    except WorkbenchError as exc:
        _update(store, run_id, status="failed", finished_at=utcnow(), error=exc.message[:2000])
        raise
    except BaseException as exc:
        cancelled = type(exc).__name__ == "JobCancelled"
        _update(store, run_id, status="cancelled" if cancelled else "failed", finished_at=utcnow(),
                error="Cancelled." if cancelled else f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return get_run(store, actor=actor, run_id=run_id)


def _through_template(store: Store, actor: Actor, target: Target, suite, conversations: list[list[dict]]):
    """What the server sends a deployment version's model for each case (core/serving/app.py's apply_template):
    its template filled with the case's last user message as `input` and the case's variables."""
    from core.prompts import templates

    template = templates.get_version(store, actor=actor, ref=target.template)
    rendered = []
    for case, conversation in zip(suite.cases, conversations):
        last_user = next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "")
        try:
            rendered.append(template.messages({"input": last_user, **case.variables}))
        except InvalidInput as exc:
            raise InvalidInput(f"{target.name}'s template {template.ref} cannot be filled for case "
                               f"{case.position + 1}: {exc.message}") from None
    return rendered


def run_evaluation(store: Store, *, actor: Actor, suite: str, models: list[str], judge: str | None = None,
                   baseline: str | None = None, settings: GenerationSettings = DEFAULT_SETTINGS,
                   progress: Progress | None = None, judge_max_new_tokens: int = 96) -> RunInfo:
    """Starts and runs an evaluation in this process; returns the finished run with its results."""
    run = start_run(store, actor=actor, suite=suite, models=models, judge=judge, baseline=baseline, settings=settings,
                    judge_max_new_tokens=judge_max_new_tokens)
    return execute_run(store, actor=actor, run_id=run.id, progress=progress)


def cancel_run(store: Store, *, actor: Actor, run_id: int) -> RunInfo:
    """Asks a queued or running evaluation to stop (its job too); results stored so far are kept."""
    require(actor, Permission.MANAGE_EVALUATIONS)
    run = get_run(store, actor=actor, run_id=run_id, with_results=False)
    if run.finished:
        raise Conflict(f"Evaluation run {run_id} has finished ({run.status}); there is nothing to cancel.")
    with store.write() as session:
        row = session.get(EvalRun, run_id)
        row.cancel_requested = True
        if row.status == "queued" and not row.job_id:
            row.status, row.finished_at, row.error = "cancelled", utcnow(), "Cancelled before it started."
        session.add(row)
        audit.record(session=session, actor=actor, action="eval.run.cancel", target_type="eval_run", target_id=run_id)
    if run.job_id:
        from core.jobs import actions

        try:
            actions.cancel(store, actor=actor, job_id=run.job_id)
        except Conflict:
            pass  # the job finished meanwhile
    return get_run(store, actor=actor, run_id=run_id, with_results=False)


def set_job(store: Store, run_id: int, job_id: int) -> None:
    _update(store, run_id, job_id=job_id)


def get_run(store: Store, *, actor: Actor, run_id: int, with_results: bool = True) -> RunInfo:
    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        row = session.get(EvalRun, run_id)
        if row is None:
            raise NotFound(f"There is no evaluation run {run_id}.", hint="`workbench eval runs` lists them.")
        results = list(session.exec(select(EvalResult).where(EvalResult.run_id == run_id))) if with_results else None
        info = _run_info(row, results)
    if info.results and not actor.can(Permission.VIEW_DATA_ROWS):
        info = replace(info, results=[withhold_case_text(r) for r in info.results])
    return info


WITHHELD = "Withheld: explanations may quote the case or the answer."
WITHHELD_ERROR = "The model gave no answer."


def withhold_case_text(result: ResultInfo) -> ResultInfo:
    """A result as a viewer (manager) reads it: verdicts, values and figures, never the answer, and no
    explanation or error text (a check's explanation may quote the answer or the expected text, a judge's reason
    the answer, an endpoint's error the prompt)."""
    checks = [{**c, "explanation": WITHHELD if c.get("explanation") else c.get("explanation")} for c in result.checks]
    return replace(result, output=None, checks=checks, error=WITHHELD_ERROR if result.error else None)


def list_runs(store: Store, *, actor: Actor, suite: str | None = None, limit: int = 100) -> list[RunInfo]:
    require(actor, Permission.VIEW_MODELS)
    query = select(EvalRun)
    if suite:
        name, number = suites.parse_ref(suite)
        query = query.where(EvalRun.suite == f"{name}@{number}") if number else query.where(
            col(EvalRun.suite).startswith(f"{name}@"))
    with store.read() as session:
        return [_run_info(r) for r in session.exec(query.order_by(col(EvalRun.id).desc()).limit(limit))]


# --- summaries ----------------------------------------------------------------------------------------------

def check_table(results: list[ResultInfo]) -> list[dict[str, Any]]:
    """Per check (by label): passed, failed, undecided, pass rate and mean value with bootstrap intervals."""
    by_label: dict[str, dict[str, Any]] = {}
    for result in results:
        for entry in result.checks:
            row = by_label.setdefault(entry["label"], {"check": entry["label"], "type": entry["check"],
                                                      "kind": entry["type"], "safety": entry.get("safety", False),
                                                      "_passed": [], "_values": []})
            row["_passed"].append(None if entry["passed"] is None else float(entry["passed"]))
            row["_values"].append(entry["value"])
    table = []
    for row in by_label.values():
        decided = [p for p in row.pop("_passed") if p is not None]
        values = row.pop("_values")
        rate = stats.bootstrap_mean(decided)
        mean = stats.bootstrap_mean(values)
        table.append({**row, "passed": int(sum(decided)), "failed": len(decided) - int(sum(decided)),
                      "undecided": len(values) - len(decided),
                      "pass_rate": None if rate.value is None else round(rate.value, 4),
                      "pass_rate_ci": [rate.low, rate.high], "mean": None if mean.value is None else round(mean.value, 4),
                      "mean_ci": [mean.low, mean.high]})
    return table


def summarise(run: RunInfo) -> dict[str, Any]:
    models = []
    for model, results in run.by_model().items():
        overall = stats.bootstrap_mean([None if r.passed is None else float(r.passed) for r in results])
        models.append({"model": model, "cases": len(results), "pass_rate": overall.to_dict(),
                       "checks": check_table(results)})
    return {"models": models}


def flipped_cases(run: RunInfo, baseline: str, candidate: str) -> list[dict[str, Any]]:
    """Cases whose overall verdict differs between two models: regressions (baseline passed, candidate failed)
    first, then improvements."""
    models = run.by_model()
    if baseline not in models or candidate not in models:
        raise InvalidInput(f"Both {baseline} and {candidate} must be models of run {run.id}.")
    base = {r.position: r for r in models[baseline]}
    flips = []
    for result in models[candidate]:
        before = base.get(result.position)
        if before is None or before.passed is None or result.passed is None or before.passed == result.passed:
            continue
        changed = sorted({c["label"] for c in result.checks if c["passed"] is False} ^
                         {c["label"] for c in before.checks if c["passed"] is False})
        flips.append({"position": result.position, "kind": "regression" if before.passed else "improvement",
                      "checks": changed, "baseline_output": before.output, "candidate_output": result.output})
    return sorted(flips, key=lambda f: (f["kind"] != "regression", f["position"]))


def report(store: Store, *, actor: Actor, run_id: int) -> dict[str, Any]:
    """What `workbench eval show RUN --json` prints: per model and check the counts and rates, and every case."""
    run = get_run(store, actor=actor, run_id=run_id)
    suite = suites.get_suite(store, actor=actor, ref=run.suite)
    summary = summarise(run) if run.results else (run.summary or {"models": []})
    outputs: dict[int, dict[str, Any]] = defaultdict(dict)
    for result in run.results:
        outputs[result.position][result.model] = result.to_dict()
    cases = [{"position": case.position, "description": case.description, "variables": case.variables,
              "reference": case.reference, "outputs": [outputs[case.position].get(m) for m in run.models
                                                       if m in outputs[case.position]]}
             for case in suite.cases]
    out = {**run.to_dict(), "models": summary["models"], "cases": cases}
    if run.baseline and len(run.models) > 1 and run.results:
        out["flipped"] = {m: flipped_cases(run, run.baseline, m) for m in run.models if m != run.baseline}
    return out
