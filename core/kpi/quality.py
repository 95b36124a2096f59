"""Quality beside the event KPIs: annotation ratings, evaluation pass rates per model, open drift alerts.

These tables are small (people's ratings, evaluation cases), so their numbers are read and averaged here; the
event log itself is only ever aggregated in SQL (core/kpi/query.py).
"""
from __future__ import annotations

from collections import defaultdict

from sqlmodel import select

from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import AnnotationProject, EvalResult, EvalRun, Rating


def _number(value) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return None


def annotation_ratings(store: Store, *, actor: Actor) -> list[dict]:
    """Mean of every numeric (or yes/no) question per annotation project; other answers are not averaged."""
    require(actor, Permission.VIEW_DASHBOARDS)
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    with store.read() as session:
        rows = session.exec(select(AnnotationProject.name, Rating.question, Rating.value)
                            .join(AnnotationProject, AnnotationProject.id == Rating.project_id))
        for project, question, value in rows:
            number = _number(value)
            if number is not None:
                sums[(project, question)].append(number)
    return [{"project": project, "question": question, "ratings": len(values),
             "mean": sum(values) / len(values)} for (project, question), values in sorted(sums.items())]


def evaluation_scores(store: Store, *, actor: Actor, runs: int = 20) -> list[dict]:
    """Share of passed checks per model in the latest finished evaluation runs."""
    require(actor, Permission.VIEW_DASHBOARDS)
    found = []
    with store.read() as session:
        recent = session.exec(select(EvalRun).where(EvalRun.status == "succeeded")
                              .order_by(EvalRun.id.desc()).limit(runs)).all()
        for run in recent:
            passed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for model, checks in session.exec(select(EvalResult.model, EvalResult.checks)
                                              .where(EvalResult.run_id == run.id)):
                for check in checks or ():
                    if isinstance(check, dict) and isinstance(check.get("passed"), bool):
                        passed[model][0] += check["passed"]
                        passed[model][1] += 1
            for model, (ok, total) in sorted(passed.items()):
                found.append({"run": run.id, "suite": run.suite, "model": model, "checks": total,
                              "pass_rate": ok / total if total else None,
                              "finished": run.finished_at})
    return found


def open_drift_alerts(store: Store, *, actor: Actor) -> int:
    from core.monitoring import alerts

    return len(alerts.list_alerts(store, actor=actor, status="active", kind="drift"))
