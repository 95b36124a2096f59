"""Model cards generated from what the workbench knows about a model: registry entry and licence, lineage (base
model, training job and its config, training data versions with their profile figures and redaction), evaluation
runs and release gates, feedback from served traffic, and the editable intended use and limitations.

A card is rebuilt on every view, except a deployment version's card, which is frozen (stored as it was) when the
version is promoted. Export as Markdown or as HTML; every value is escaped in HTML, nothing user-written is markup.
"""
from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import EvalRun, GateResult, Job, ModelCard, utcnow

MAX_TEXT = 10_000


def _text_row(session, model: str) -> ModelCard | None:
    return session.exec(select(ModelCard).where(ModelCard.model == model, col(ModelCard.deployment).is_(None))).first()


def set_card_text(store: Store, *, actor: Actor, model: str, intended_use: str | None,
                  limitations: str | None) -> dict[str, Any]:
    """Saves the editable parts of a model's card (audited)."""
    from core.errors import InvalidInput
    from core.models import registry

    require(actor, Permission.MANAGE_MODELS)
    registry.get_model(store, actor=actor, name=model)
    for what, value in (("intended use", intended_use), ("limitations", limitations)):
        if value and len(value) > MAX_TEXT:
            raise InvalidInput(f"The {what} text is longer than {MAX_TEXT:,} characters.")
    with store.write() as session:
        row = _text_row(session, model)
        before = None if row is None else {"intended_use": row.intended_use, "limitations": row.limitations}
        row = row or ModelCard(model=model, updated_by=actor.name)
        row.intended_use, row.limitations = intended_use or None, limitations or None
        row.updated_at, row.updated_by = utcnow(), actor.name
        session.add(row)
        audit.record(session=session, actor=actor, action="model_card.edit", target_type="model", target_id=model,
                     before=before, after={"intended_use": row.intended_use, "limitations": row.limitations})
    return {"model": model, "intended_use": intended_use, "limitations": limitations}


def _lineage(store: Store, actor: Actor, info) -> dict[str, Any]:
    from core.data import versions

    out: dict[str, Any] = {"base_model": info.base_model, "registered_by": info.created_by,
                           "registered_at": info.created_at.isoformat(timespec="seconds")}
    with store.read() as session:
        job = session.exec(select(Job).where(Job.model == info.name).order_by(col(Job.id).desc())).first()
    if job is not None:
        config = dict(job.config or {})
        out["training_job"] = {"id": job.id, "kind": job.kind, "status": job.status, "by": job.created_by,
                               "config": config, "metrics": job.metrics}
        data = []
        for key in ("dataset", "eval_dataset"):
            ref = config.get(key)
            if not ref:
                continue
            try:
                version = versions.get_version(store, actor=actor, ref=ref)
            except Exception:  # noqa: BLE001 - a removed dataset leaves its name on the card
                data.append({"role": key, "ref": ref, "missing": True})
                continue
            stats = version.stats or {}
            data.append({"role": key, "ref": version.ref, "rows": version.rows, "sha256": version.sha256,
                         "transformation": version.transformation, "parents": version.parents,
                         "redacted": version.transformation == "redact" or any(
                             p.startswith("redact") for p in version.parents),
                         "pii": stats.get("pii") if isinstance(stats, dict) else None})
        out["training_data"] = data
    return out


def _deployment_versions(store: Store, name: str) -> dict[str, dict[str, Any]]:
    """The deployment versions that serve `name`: {"deployment:NAME@V": {"deployment", "version", "guardrails"}}."""
    from core.storage.tables import Deployment, DeploymentVersion

    with store.read() as session:
        rows = session.exec(select(Deployment.name, DeploymentVersion.version, DeploymentVersion.guardrails)
                            .join(Deployment, Deployment.id == DeploymentVersion.deployment_id)
                            .where(DeploymentVersion.model == name)).all()
    return {f"deployment:{d}@{v}": {"deployment": d, "version": v, "guardrails": g} for d, v, g in rows}


def _evaluations(store: Store, name: str) -> dict[str, Any]:
    served = _deployment_versions(store, name)
    with store.read() as session:
        rows = list(session.exec(select(EvalRun).where(EvalRun.status == "succeeded")
                                 .order_by(col(EvalRun.id).desc()).limit(200)))
        gates = list(session.exec(select(GateResult).order_by(col(GateResult.id).desc()).limit(200)))
    runs_out = []
    for row in rows:
        for model in (row.summary or {}).get("models", []):
            if model["model"] == name or model["model"].endswith(f":{name}"):
                runs_out.append({"run": row.id, "suite": row.suite, "pass_rate": model["pass_rate"],
                                 "checks": {c["check"]: c["pass_rate"] for c in model["checks"]}})
        if len(runs_out) >= 5:
            break
    gates_out = [{"id": g.id, "candidate": g.candidate, "baseline": g.baseline, "suite": g.suite,
                  "deployment": g.deployment, "deployment_version": g.deployment_version,
                  "passed": g.passed, "summary": g.summary, "override_by": g.override_by,
                  "override_reason": g.override_reason} for g in gates
                 if name in (g.candidate, g.baseline) or g.candidate in served or g.baseline in served][:5]
    return {"runs": runs_out, "gates": gates_out}


def _guardrails(store: Store, name: str) -> list[dict[str, Any]]:
    """Per deployment serving `name`: its served requests, how many a guard flagged, redacted or blocked (the
    incident rate), and the guards its versions run. One SQL aggregate over the events."""
    from sqlalchemy import String, case, cast

    from core.storage.tables import InferenceEvent as E

    guards: dict[str, set[str]] = {}
    for info in _deployment_versions(store, name).values():
        config = info["guardrails"] or {}
        guards.setdefault(info["deployment"], set()).update(
            f"{stage} {spec.get('guard')} ({spec.get('action', 'flag')})" for stage in ("input", "output")
            for spec in config.get(stage) or [] if isinstance(spec, dict))
    if not guards:
        return []
    text = cast(E.guard_flags, String)
    flagged = case((E.guard_flags.is_(None), 0), (text.in_(("null", "[]")), 0), else_=1)
    with store.read() as session:
        counts = {d: (int(n or 0), int(f or 0)) for d, n, f in session.exec(
            select(E.deployment, func.count(), func.sum(flagged)).where(
                E.model == name, col(E.deployment).in_(list(guards))).group_by(E.deployment))}
    out = []
    for deployment in sorted(guards):
        events, hits = counts.get(deployment, (0, 0))
        out.append({"deployment": deployment, "events": events, "flagged": hits,
                    "incident_rate": round(hits / events, 4) if events else None,
                    "guards": sorted(guards[deployment])})
    return out


def _feedback(store: Store, name: str) -> dict[str, Any] | None:
    try:
        from core.storage.tables import InferenceEvent
    except ImportError:
        return None
    with store.read() as session:
        count, mean = session.exec(select(func.count(InferenceEvent.feedback_score),
                                          func.avg(InferenceEvent.feedback_score))
                                   .where(InferenceEvent.model == name)).one()
    return {"events_with_feedback": int(count or 0), "mean_score": None if mean is None else round(float(mean), 4)}


def build_card(store: Store, *, actor: Actor, model: str) -> dict[str, Any]:
    """The card of a registered model as the workbench knows it now."""
    from core.models import registry

    require(actor, Permission.VIEW_MODELS)
    info = registry.get_model(store, actor=actor, name=model)
    with store.read() as session:
        text = _text_row(session, model)
    card = {
        "model": info.name, "kind": info.kind, "task": info.task, "source": info.source,
        "licence": info.info.get("license") or info.info.get("licence") or "not recorded",
        "architecture": info.architecture, "parameters": info.parameters, "context_length": info.context_length,
        "description": info.info.get("description"),
        "intended_use": text.intended_use if text else None, "limitations": text.limitations if text else None,
        "lineage": _lineage(store, actor, info) if actor.can(Permission.VIEW_DATA_ROWS) or
        actor.can(Permission.VIEW_DASHBOARDS) else {},
        "evaluation": _evaluations(store, info.name),
        "guardrails": _guardrails(store, info.name),
        "feedback": _feedback(store, info.name),
        "generated_at": utcnow().isoformat(timespec="seconds"),
    }
    if actor.can(Permission.VIEW_AUDIT):
        events = audit.list_events(store, actor=actor, filters=audit.AuditFilter(target_id=model, limit=20))
        card["history"] = [{"at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action}
                           for e in events]
    return card


def freeze_for_deployment(store: Store, *, actor: Actor, deployment: str, version: dict[str, Any],
                          gate: dict[str, Any] | None) -> dict[str, Any]:
    """Stores the card of a deployment version as it is at its promotion (audited); returns it."""
    card = build_card(store, actor=actor, model=version["model"])
    card["deployment"] = {"name": deployment, "version": version["version"], "template": version.get("template"),
                          "defaults": version.get("defaults"), "guardrails": version.get("guardrails"),
                          "gate": gate}
    number = int(version["version"])
    with store.write() as session:
        row = session.exec(select(ModelCard).where(ModelCard.deployment == deployment,
                                                   ModelCard.deployment_version == number)).first()
        row = row or ModelCard(model=version["model"], deployment=deployment, deployment_version=number,
                               updated_by=actor.name)
        row.content, row.frozen_at, row.updated_at, row.updated_by = card, utcnow(), utcnow(), actor.name
        session.add(row)
        audit.record(session=session, actor=actor, action="model_card.freeze", target_type="deployment",
                     target_id=f"{deployment}@{number}", after={"model": version["model"]})
    return card


def frozen_card(store: Store, *, actor: Actor, deployment: str, version: int) -> dict[str, Any] | None:
    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        row = session.exec(select(ModelCard).where(ModelCard.deployment == deployment,
                                                   ModelCard.deployment_version == version)).first()
    return None if row is None else row.content


def _fmt(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _sections(card: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]] | str]]:
    lineage = card.get("lineage") or {}
    evaluation = card.get("evaluation") or {}
    details = [("Kind", card["kind"]), ("Task", card["task"]), ("Source", card["source"]),
               ("Licence", card["licence"]), ("Architecture", _fmt(card.get("architecture"))),
               ("Parameters", _fmt(card.get("parameters"))), ("Context length", _fmt(card.get("context_length")))]
    lines = [("Base model", _fmt(lineage.get("base_model"))), ("Registered by", _fmt(lineage.get("registered_by"))),
             ("Registered at", _fmt(lineage.get("registered_at")))]
    job = lineage.get("training_job")
    if job:
        config = job.get("config") or {}
        lines.append(("Training job", f"#{job['id']} ({job['status']}) by {job['by']}"))
        lines.append(("Training config", ", ".join(f"{k}={config[k]}" for k in (
            "base_model", "dataset", "lora_r", "lora_alpha", "learning_rate", "epochs", "max_steps") if k in config)))
    for data in lineage.get("training_data") or []:
        lines.append((f"Data ({data['role']})", f"{data['ref']}: {_fmt(data.get('rows'))} rows, "
                                               f"{'PII redacted' if data.get('redacted') else 'not redacted'}"))
    evals = [(f"Run {r['run']} ({r['suite']})", f"pass rate {_fmt((r['pass_rate'] or {}).get('value'))}")
             for r in evaluation.get("runs") or []]
    gates = [(f"Gate {g['id']} ({g['suite']})" + (f" on {g['deployment']}@{g['deployment_version']}"
                                                 if g.get("deployment") else ""),
              f"{g['candidate']} vs {g['baseline']}: {'passed' if g['passed'] else 'failed'}: {g['summary']}"
              + (f" — overridden by {g['override_by']}: {g['override_reason']}" if g.get("override_by") else ""))
             for g in evaluation.get("gates") or []]
    guarded = [(g["deployment"], "no served request yet" if not g["events"] else
                f"{g['flagged']:,} of {g['events']:,} requests flagged by a guard ({g['incident_rate']:.1%}); "
                f"guards: {', '.join(g['guards']) or 'none'}") for g in card.get("guardrails") or []]
    feedback = card.get("feedback") or {}
    out: list[tuple[str, list[tuple[str, str]] | str]] = [
        ("Details", details),
        ("Intended use", card.get("intended_use") or "Not written yet."),
        ("Limitations", card.get("limitations") or "Not written yet."),
        ("Lineage", lines),
        ("Evaluation", evals or "No evaluation run yet."),
        ("Release gates", gates or "No gate result yet."),
        ("Guardrail incidents", guarded or "No deployment of this model runs guards."),
        ("Feedback", [("Events with feedback", _fmt(feedback.get("events_with_feedback"))),
                      ("Mean score", _fmt(feedback.get("mean_score")))]),
    ]
    deployment = card.get("deployment")
    if deployment:
        gate = deployment.get("gate") or {}
        out.insert(1, ("Deployment", [("Deployment", f"{deployment['name']}@{deployment['version']}"),
                                      ("Template", _fmt(deployment.get("template"))),
                                      ("Guardrails", _fmt(deployment.get("guardrails"))),
                                      ("Gate at promotion", _fmt(gate.get("summary")))]))
    if card.get("history"):
        out.append(("History", [(h["at"], f"{h['actor']}: {h['action']}") for h in card["history"]]))
    return out


def _md_text(text: str) -> str:
    """Plain text for Markdown: no raw HTML gets through (angle brackets become entities)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(card: dict[str, Any]) -> str:
    parts = [f"# Model card: {_md_text(card['model'])}", "", f"_Generated {card.get('generated_at', '')}_", ""]
    for title, body in _sections(card):
        parts += [f"## {title}", ""]
        if isinstance(body, str):
            parts += [_md_text(body), ""]
        else:
            parts += ["| | |", "|---|---|"] + [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in body] + [""]
    return "\n".join(parts)


def to_html(card: dict[str, Any]) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
             f"<title>Model card: {e(card['model'])}</title></head><body>",
             f"<h1>Model card: {e(card['model'])}</h1>", f"<p><em>Generated {e(card.get('generated_at', ''))}</em></p>"]
    for title, body in _sections(card):
        parts.append(f"<h2>{e(title)}</h2>")
        if isinstance(body, str):
            parts.append(f"<p>{e(body)}</p>")
        else:
            parts.append("<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in body)
                         + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
