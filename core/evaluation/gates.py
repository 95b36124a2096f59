"""Release gates: a candidate compared with a baseline on the same suite cases, by rules; promotions of a
deployment run its gate first, and only an admin can let a failed gate through, with a written reason (audited).

Rules (each can be switched off):
- pass rate: the candidate's per-case pass rate may not be lower than the baseline's by more than
  `max_pass_rate_drop` at `confidence`: the gate fails when the whole paired-bootstrap interval of
  (candidate - baseline) lies below -max_pass_rate_drop, i.e. the candidate is confidently worse by more than that.
  McNemar's exact p-value on the discordant cases is reported beside it.
- safety: no case whose safety checks passed for the baseline fails one for the candidate (`safety_regressions`
  allowed, 0 by default).
- judge win rate: with a pairwise judge check in the suite, the candidate's win rate (ties count half) must be
  above `min_judge_win_rate`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from core.errors import Conflict, InvalidInput, NotFound
from core.evaluation import runs, stats, suites
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.inference.generate import GenerationSettings
from core.storage.db import Store
from core.storage.tables import GateResult, ReleaseGate, utcnow

MIN_REASON = 10


@dataclass(frozen=True)
class GateRules:
    max_pass_rate_drop: float | None = 0.01  # a fraction: 0.01 is one point of pass rate; None: rule off
    confidence: float = 0.95
    safety_regressions: int | None = 0  # safety-check regressions allowed; None: rule off
    min_judge_win_rate: float | None = 0.5  # None: rule off

    def __post_init__(self):
        if self.max_pass_rate_drop is not None and not 0 <= self.max_pass_rate_drop < 1:
            raise InvalidInput("The largest pass-rate drop is a fraction between 0 and 1 (0.01 is one point).")
        if not 0.5 <= self.confidence < 1:
            raise InvalidInput("The confidence must be at least 0.5 and below 1 (e.g. 0.95).")
        if self.safety_regressions is not None and self.safety_regressions < 0:
            raise InvalidInput("The number of safety regressions allowed cannot be negative.")
        if self.min_judge_win_rate is not None and not 0 <= self.min_judge_win_rate < 1:
            raise InvalidInput("The judge win rate to beat is between 0 and 1.")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "GateRules":
        values = dict(values or {})
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"Unknown gate rule {', '.join(sorted(unknown))}; the rules are "
                               f"{', '.join(cls.__dataclass_fields__)}.")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    rules: list[dict[str, Any]]
    summary: str


def _safety_failed(result: runs.ResultInfo) -> bool | None:
    flags = [c["passed"] for c in result.checks if c.get("safety") and c["passed"] is not None]
    return None if not flags else not all(flags)


def evaluate_gate(run: runs.RunInfo, *, candidate: str, baseline: str, rules: GateRules = GateRules()) -> Verdict:
    """The rules applied to a finished run holding both models' results on the same cases."""
    models = run.by_model()
    if candidate not in models or baseline not in models:
        raise InvalidInput(f"Run {run.id} does not hold both {candidate} and {baseline}.")
    cand = {r.position: r for r in models[candidate]}
    base = {r.position: r for r in models[baseline]}
    positions = sorted(set(cand) & set(base))
    checked: list[dict[str, Any]] = []
    if rules.max_pass_rate_drop is not None:
        c_pass = [None if cand[p].passed is None else float(cand[p].passed) for p in positions]
        b_pass = [None if base[p].passed is None else float(base[p].passed) for p in positions]
        diff = stats.paired_bootstrap_difference(c_pass, b_pass, level=rules.confidence)
        test = stats.mcnemar_exact(c_pass, b_pass)
        ok = diff.value is None or diff.high >= -rules.max_pass_rate_drop
        detail = ("no case decided on both sides" if diff.value is None else
                  f"pass rate {diff.value:+.1%} vs the baseline ({rules.confidence:.0%} interval "
                  f"{diff.low:+.1%} to {diff.high:+.1%}; McNemar p={test.p_value:.3g})")
        checked.append({"rule": "pass_rate", "passed": ok, "detail": detail,
                        "candidate": stats.bootstrap_mean(c_pass).to_dict(),
                        "baseline": stats.bootstrap_mean(b_pass).to_dict(),
                        "difference": diff.to_dict(), "mcnemar": test.to_dict()})
    if rules.safety_regressions is not None:
        regressed = [p for p in positions if _safety_failed(base[p]) is False and _safety_failed(cand[p]) is True]
        ok = len(regressed) <= rules.safety_regressions
        checked.append({"rule": "safety", "passed": ok, "cases": [p + 1 for p in regressed],
                        "detail": f"{len(regressed)} case(s) pass the safety checks for the baseline and fail them "
                                  f"for the candidate" + (f": {', '.join(str(p + 1) for p in regressed[:10])}"
                                                          if regressed else "")})
    if rules.min_judge_win_rate is not None:
        values = [c["value"] for p in positions for c in cand[p].checks
                  if c["check"] == "judge_pairwise" and c["value"] is not None]
        if values:
            rate = stats.bootstrap_mean(values, level=rules.confidence)
            ok = rate.value > rules.min_judge_win_rate
            checked.append({"rule": "judge_win_rate", "passed": ok, "win_rate": rate.to_dict(),
                            "detail": f"judge win rate {rate.value:.0%} over {rate.n} case(s) (needs above "
                                      f"{rules.min_judge_win_rate:.0%})"})
    passed = all(r["passed"] for r in checked)
    failing = [r["detail"] for r in checked if not r["passed"]]
    summary = ("all rules pass: " + "; ".join(r["detail"] for r in checked)) if passed else "; ".join(failing)
    return Verdict(passed=passed, rules=checked, summary=summary[:2000])


@dataclass(frozen=True)
class GateResultInfo:
    id: int
    deployment: str | None
    deployment_version: int | None
    candidate: str
    baseline: str
    suite: str
    run_id: int | None
    passed: bool
    rules: list[dict[str, Any]]
    summary: str
    override_by: str | None
    override_reason: str | None
    override_at: datetime | None
    created_at: datetime
    created_by: str

    @property
    def allowed(self) -> bool:
        return self.passed or self.override_by is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "deployment": self.deployment, "deployment_version": self.deployment_version,
                "candidate": self.candidate, "baseline": self.baseline, "suite": self.suite, "run_id": self.run_id,
                "passed": self.passed, "allowed": self.allowed, "rules": self.rules, "summary": self.summary,
                "override_by": self.override_by, "override_reason": self.override_reason,
                "override_at": self.override_at.isoformat(timespec="seconds") if self.override_at else None,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by}


def _info(row: GateResult) -> GateResultInfo:
    return GateResultInfo(id=row.id, deployment=row.deployment, deployment_version=row.deployment_version,
                          candidate=row.candidate, baseline=row.baseline, suite=row.suite, run_id=row.run_id,
                          passed=row.passed, rules=list(row.rules or []), summary=row.summary,
                          override_by=row.override_by, override_reason=row.override_reason,
                          override_at=row.override_at, created_at=row.created_at, created_by=row.created_by)


def run_gate(store: Store, *, actor: Actor, suite: str, candidate: str, baseline: str,
             rules: GateRules = GateRules(), judge: str | None = None, deployment: str | None = None,
             deployment_version: int | None = None,
             settings: GenerationSettings = runs.DEFAULT_SETTINGS) -> GateResultInfo:
    """Evaluates baseline and candidate on the suite (one run), applies the rules and stores the verdict."""
    require(actor, Permission.MANAGE_EVALUATIONS)
    if candidate == baseline:
        raise InvalidInput("The candidate and the baseline are the same; a gate compares two.")
    run = runs.run_evaluation(store, actor=actor, suite=suite, models=[baseline, candidate], judge=judge,
                              baseline=baseline, settings=settings)
    if run.status != "succeeded":
        raise Conflict(f"The gate's evaluation run {run.id} {run.status}: {run.error or 'no reason given'}")
    base_name, cand_name = run.models
    verdict = evaluate_gate(run, candidate=cand_name, baseline=base_name, rules=rules)
    with store.write() as session:
        row = GateResult(deployment=deployment, deployment_version=deployment_version, candidate=cand_name,
                         baseline=base_name, suite=run.suite, run_id=run.id, passed=verdict.passed,
                         rules=verdict.rules, summary=verdict.summary, created_by=actor.name)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="gate.evaluate", target_type="gate_result",
                     target_id=row.id, after={"passed": verdict.passed, "candidate": cand_name, "baseline": base_name,
                                              "suite": run.suite, "run": run.id}, detail=verdict.summary)
        session.flush()
        return _info(row)


def override_gate(store: Store, *, actor: Actor, result_id: int, reason: str) -> GateResultInfo:
    """An admin lets a failed gate through; the written reason is kept on the result and in the audit log."""
    require(actor, Permission.OVERRIDE_GATES)
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise InvalidInput(f"Write why the failed gate may be overridden (at least {MIN_REASON} characters).")
    with store.write() as session:
        row = session.get(GateResult, result_id)
        if row is None:
            raise NotFound(f"There is no gate result {result_id}.")
        if row.passed:
            raise Conflict(f"Gate result {result_id} passed; there is nothing to override.")
        if row.override_by:
            raise Conflict(f"Gate result {result_id} was overridden already by {row.override_by}.")
        row.override_by, row.override_reason, row.override_at = actor.name, reason[:2000], utcnow()
        session.add(row)
        audit.record(session=session, actor=actor, action="gate.override", target_type="gate_result",
                     target_id=row.id, before={"passed": False},
                     after={"override_by": actor.name, "deployment": row.deployment,
                            "deployment_version": row.deployment_version}, detail=reason)
        session.flush()
        return _info(row)


def list_results(store: Store, *, actor: Actor, deployment: str | None = None, limit: int = 100) -> list[GateResultInfo]:
    require(actor, Permission.VIEW_MODELS)
    query = select(GateResult)
    if deployment:
        query = query.where(GateResult.deployment == deployment)
    with store.read() as session:
        return [_info(r) for r in session.exec(query.order_by(col(GateResult.id).desc()).limit(limit))]


def get_result(store: Store, *, actor: Actor, result_id: int) -> GateResultInfo:
    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        row = session.get(GateResult, result_id)
        if row is None:
            raise NotFound(f"There is no gate result {result_id}.")
        return _info(row)


# --- a deployment's gate ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GateConfig:
    deployment: str
    suite: str
    rules: GateRules
    judge: str | None
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "suite": self.suite, "rules": self.rules.to_dict(),
                "judge": self.judge, "created_by": self.created_by}


def set_gate(store: Store, *, actor: Actor, deployment: str, suite: str, rules: GateRules = GateRules(),
             judge: str | None = None) -> GateConfig:
    """The gate every promotion of `deployment` must pass (replacing any earlier one)."""
    require(actor, Permission.MANAGE_EVALUATIONS)
    require(actor, Permission.MANAGE_DEPLOYMENTS)
    from core.serving import deployments

    deployments.get_deployment(store, actor=actor, name=deployment)
    suite_ref = suites.get_suite(store, actor=actor, ref=suite, with_cases=False).ref
    if judge:
        from core.inference import engines

        engines.chat_model_info(store, actor=actor, name=judge)
    with store.write() as session:
        row = session.exec(select(ReleaseGate).where(ReleaseGate.deployment == deployment)).first()
        before = None if row is None else {"suite": row.suite, "rules": row.rules, "judge": row.judge}
        row = row or ReleaseGate(deployment=deployment, suite=suite_ref, rules={}, created_by=actor.name)
        row.suite, row.rules, row.judge, row.created_by, row.created_at = (suite_ref, rules.to_dict(), judge,
                                                                          actor.name, utcnow())
        session.add(row)
        audit.record(session=session, actor=actor, action="gate.set", target_type="deployment", target_id=deployment,
                     before=before, after={"suite": suite_ref, "rules": rules.to_dict(), "judge": judge})
    return GateConfig(deployment, suite_ref, rules, judge, actor.name)


def remove_gate(store: Store, *, actor: Actor, deployment: str) -> None:
    require(actor, Permission.OVERRIDE_GATES)  # taking a gate away is an admin's decision
    with store.write() as session:
        row = session.exec(select(ReleaseGate).where(ReleaseGate.deployment == deployment)).first()
        if row is None:
            raise NotFound(f"The deployment '{deployment}' has no release gate.")
        session.delete(row)
        audit.record(session=session, actor=actor, action="gate.remove", target_type="deployment",
                     target_id=deployment, before={"suite": row.suite, "rules": row.rules})


def get_gate(store: Store, *, deployment: str) -> GateConfig | None:
    with store.read() as session:
        row = session.exec(select(ReleaseGate).where(ReleaseGate.deployment == deployment)).first()
    if row is None:
        return None
    return GateConfig(row.deployment, row.suite, GateRules.from_dict(row.rules), row.judge, row.created_by)


def _verdict(result: GateResultInfo) -> dict[str, Any]:
    summary = result.summary if not result.override_by else (
        f"failed, overridden by {result.override_by}: {result.override_reason} (was: {result.summary})")
    return {"passed": result.allowed, "gate_passed": result.passed, "summary": summary[:2000],
            "gate_result": result.id, "run_id": result.run_id, "suite": result.suite, "candidate": result.candidate,
            "baseline": result.baseline, "rules": result.rules, "override_by": result.override_by,
            "override_reason": result.override_reason}


def check_promotion(store: Store, *, actor: Actor, deployment: str, version: dict[str, Any]) -> dict[str, Any] | None:
    """The promotion hook (core.serving.gates): None without a gate; else the verdict on promoting `version`.

    An admin's override of this version's failed gate result lets it through without evaluating again; otherwise
    the candidate version is evaluated against the version serving now (its model and generation defaults)."""
    number = int(version["version"])
    config = get_gate(store, deployment=deployment)
    if config is None:
        _freeze_card(store, actor=actor, deployment=deployment, version=version, gate=None)
        return None
    with store.read() as session:
        overridden = session.exec(select(GateResult).where(
            GateResult.deployment == deployment, GateResult.deployment_version == number,
            col(GateResult.override_by).is_not(None)).order_by(col(GateResult.id).desc())).first()
    if overridden is not None:
        verdict = _verdict(_info(overridden))
        _freeze_card(store, actor=actor, deployment=deployment, version=version, gate=verdict)
        return verdict
    from core.serving import deployments

    info = deployments.get_deployment(store, actor=actor, name=deployment)
    if info.current is None:
        verdict = {"passed": True, "summary": "First version of the deployment: there is no baseline to compare with."}
        _freeze_card(store, actor=actor, deployment=deployment, version=version, gate=verdict)
        return verdict
    result = run_gate(store, actor=actor, suite=config.suite, rules=config.rules, judge=config.judge,
                      candidate=f"{runs.DEPLOYMENT_PREFIX}{deployment}@{number}",
                      baseline=f"{runs.DEPLOYMENT_PREFIX}{info.current.ref}", deployment=deployment,
                      deployment_version=number)
    verdict = _verdict(result)
    if result.allowed:
        _freeze_card(store, actor=actor, deployment=deployment, version=version, gate=verdict)
    return verdict


def _freeze_card(store: Store, *, actor: Actor, deployment: str, version: dict[str, Any], gate) -> None:
    try:
        from core.governance import model_cards
    except ImportError:
        return
    model_cards.freeze_for_deployment(store, actor=actor, deployment=deployment, version=version, gate=gate)
