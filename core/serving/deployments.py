"""Deployments: a named, versioned pointer to a model or adapter, a prompt template label, generation defaults and
guardrail settings. Requests name the deployment as `model`; the current version serves, a candidate version may
take a share of the end users (sticky: the same user always gets the same arm); promotion and rollback are one
audited step each."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from core.errors import Conflict, InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.models import registry
from core.serving import gates
from core.storage.db import Store
from core.storage.tables import Deployment, DeploymentVersion, utcnow

# Generation defaults a version may set; a request's own value wins.
DEFAULT_KEYS = {"temperature": float, "top_p": float, "max_tokens": int, "seed": int, "stop": list}
ARMS = ("primary", "candidate", "fallback")


@dataclass(frozen=True)
class VersionInfo:
    deployment: str
    version: int
    model: str
    template: str | None
    defaults: dict[str, Any]
    guardrails: dict[str, Any] | None
    fallback_model: str | None
    timeout_s: float | None
    note: str | None
    created_at: datetime
    created_by: str
    promoted_at: datetime | None
    promoted_by: str | None
    gate_result: dict[str, Any] | None

    @classmethod
    def of(cls, name: str, row: DeploymentVersion) -> "VersionInfo":
        return cls(deployment=name, version=row.version, model=row.model, template=row.template,
                   defaults=dict(row.defaults or {}), guardrails=row.guardrails, fallback_model=row.fallback_model,
                   timeout_s=row.timeout_s, note=row.note, created_at=row.created_at, created_by=row.created_by,
                   promoted_at=row.promoted_at, promoted_by=row.promoted_by, gate_result=row.gate_result)

    @property
    def ref(self) -> str:
        return f"{self.deployment}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "version": self.version, "ref": self.ref, "model": self.model,
                "template": self.template, "defaults": self.defaults, "guardrails": self.guardrails,
                "fallback_model": self.fallback_model, "timeout_s": self.timeout_s, "note": self.note,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
                "promoted_at": self.promoted_at.isoformat(timespec="seconds") if self.promoted_at else None,
                "promoted_by": self.promoted_by, "gate_result": self.gate_result}


@dataclass(frozen=True)
class DeploymentInfo:
    name: str
    current_version: int | None
    candidate_version: int | None
    candidate_weight: float
    created_at: datetime
    created_by: str
    versions: list[VersionInfo] = field(default_factory=list)

    def version(self, number: int | None) -> VersionInfo | None:
        return next((v for v in self.versions if v.version == number), None)

    @property
    def current(self) -> VersionInfo | None:
        return self.version(self.current_version)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "current_version": self.current_version,
                "candidate_version": self.candidate_version, "candidate_weight": self.candidate_weight,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
                "versions": [v.to_dict() for v in self.versions]}


@dataclass(frozen=True)
class Resolved:
    """What serves one request that named a deployment."""

    version: VersionInfo
    arm: str  # primary (the serving version) or candidate


def _info(session: Session, row: Deployment) -> DeploymentInfo:
    versions = session.exec(select(DeploymentVersion).where(DeploymentVersion.deployment_id == row.id)
                            .order_by(DeploymentVersion.version))
    return DeploymentInfo(name=row.name, current_version=row.current_version,
                          candidate_version=row.candidate_version, candidate_weight=row.candidate_weight,
                          created_at=row.created_at, created_by=row.created_by,
                          versions=[VersionInfo.of(row.name, v) for v in versions])


def _row(session: Session, name: str) -> Deployment:
    row = session.exec(select(Deployment).where(Deployment.name == name)).first()
    if row is None:
        known = ", ".join(session.exec(select(Deployment.name).order_by(Deployment.name))) or "none yet"
        raise NotFound(f"There is no deployment named '{name}' (deployments: {known}).")
    return row


def _version_row(session: Session, deployment: Deployment, version: int) -> DeploymentVersion:
    row = session.exec(select(DeploymentVersion).where(DeploymentVersion.deployment_id == deployment.id,
                                                       DeploymentVersion.version == version)).first()
    if row is None:
        raise NotFound(f"The deployment '{deployment.name}' has no version {version}.")
    return row


def check_defaults(defaults: dict[str, Any] | None) -> dict[str, Any]:
    """Generation defaults: temperature, top_p, max_tokens, seed, stop; a sentence for anything else."""
    checked: dict[str, Any] = {}
    for key, value in (defaults or {}).items():
        if key not in DEFAULT_KEYS:
            raise InvalidInput(f"'{key}' is not a generation default; use {', '.join(DEFAULT_KEYS)}.")
        kind = DEFAULT_KEYS[key]
        try:
            checked[key] = [str(s) for s in value] if kind is list else kind(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"The default {key}={value!r} is not a {kind.__name__}.") from None
    if checked.get("temperature", 0) < 0 or not 0 < checked.get("top_p", 1) <= 1 or checked.get("max_tokens", 1) < 1:
        raise InvalidInput("Generation defaults out of range: temperature >= 0, 0 < top_p <= 1, max_tokens >= 1.")
    return checked


def create_version(store: Store, *, actor: Actor, name: str, model: str, template: str | None = None,
                   defaults: dict[str, Any] | None = None, guardrails: dict[str, Any] | None = None,
                   fallback_model: str | None = None, timeout_s: float | None = None,
                   note: str | None = None) -> VersionInfo:
    """A new version of deployment `name` (made on first use). The first version serves at once; later ones wait
    for `promote` (or a traffic split)."""
    require(actor, Permission.MANAGE_DEPLOYMENTS)
    registry.validate_name(name)
    info = registry.get_model(store, actor=actor, name=model)
    if info.task != "chat":
        raise InvalidInput(f"'{model}' is an {info.task} model; a deployment serves a chat model or adapter.")
    if fallback_model:
        registry.get_model(store, actor=actor, name=fallback_model)
    if template:
        from core.prompts import templates

        templates.get_version(store, actor=actor, ref=template)  # a sentence now if the template or label is missing
    if guardrails is not None and not isinstance(guardrails, dict):
        raise InvalidInput("Guardrail settings must be a JSON object.")
    if guardrails:
        from core.guardrails.apply import check_config

        check_config(guardrails)  # a sentence now for an unknown guard or action, not an error at request time
    if timeout_s is not None and timeout_s <= 0:
        raise InvalidInput("The timeout must be a positive number of seconds.")
    checked = check_defaults(defaults)
    with store.write() as session:
        row = session.exec(select(Deployment).where(Deployment.name == name)).first()
        if row is None:
            row = Deployment(name=name, created_by=actor.name)
            session.add(row)
            session.flush()
        last = session.exec(select(DeploymentVersion.version).where(DeploymentVersion.deployment_id == row.id)
                            .order_by(DeploymentVersion.version.desc())).first() or 0
        version = DeploymentVersion(deployment_id=row.id, version=last + 1, model=model, template=template,
                                    defaults=checked, guardrails=guardrails, fallback_model=fallback_model,
                                    timeout_s=timeout_s, note=note, created_by=actor.name)
        if row.current_version is None:
            row.current_version = version.version
            version.promoted_at, version.promoted_by = utcnow(), actor.name
        session.add(version)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="deployment.version", target_type="deployment",
                     target_id=name, after={"version": version.version, "model": model, "template": template,
                                            "defaults": checked, "fallback_model": fallback_model,
                                            "serving": row.current_version == version.version})
        return VersionInfo.of(name, version)


def list_deployments(store: Store, *, actor: Actor) -> list[DeploymentInfo]:
    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        return [_info(session, r) for r in session.exec(select(Deployment).order_by(Deployment.name))]


def get_deployment(store: Store, *, actor: Actor, name: str) -> DeploymentInfo:
    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        return _info(session, _row(session, name))


def promote(store: Store, *, actor: Actor, name: str, version: int | None = None, force: bool = False) -> DeploymentInfo:
    """Makes `version` (default: the newest) the one that serves, after the promotion gate; ends any traffic split."""
    require(actor, Permission.MANAGE_DEPLOYMENTS)
    deployment = get_deployment(store, actor=actor, name=name)
    number = version if version is not None else max(v.version for v in deployment.versions)
    target = deployment.version(number)
    if target is None:
        raise NotFound(f"The deployment '{name}' has no version {number}.")
    if number == deployment.current_version:
        raise Conflict(f"{target.ref} is serving already.")
    verdict = gates.check_promotion(store, actor=actor, deployment=name, version=target.to_dict())
    if verdict is not None and not verdict.get("passed", False):
        if not force:
            raise Conflict(f"The promotion gate refused {target.ref}: {verdict.get('summary') or 'no reason given'}.",
                           hint="Fix what the gate reports, or ask an admin to override it with a written reason "
                                "(`workbench eval gate override`).")
        require(actor, Permission.OVERRIDE_GATES)  # letting a failed gate through is an admin's call, audited below
    with store.write() as session:
        row = _row(session, name)
        version_row = _version_row(session, row, number)
        before = {"current_version": row.current_version, "candidate_version": row.candidate_version,
                  "candidate_weight": row.candidate_weight}
        row.current_version, row.candidate_version, row.candidate_weight = number, None, 0.0
        version_row.promoted_at, version_row.promoted_by = utcnow(), actor.name
        if verdict is not None:
            version_row.gate_result = verdict
        session.add(row)
        session.add(version_row)
        audit.record(session=session, actor=actor, action="deployment.promote", target_type="deployment",
                     target_id=name, before=before, after={"current_version": number, "gate": verdict,
                                                           "forced": bool(force and verdict and not verdict.get("passed"))})
        session.flush()
        return _info(session, row)


def rollback(store: Store, *, actor: Actor, name: str) -> DeploymentInfo:
    """Serves again the version promoted before the current one; ends any traffic split."""
    require(actor, Permission.MANAGE_DEPLOYMENTS)
    deployment = get_deployment(store, actor=actor, name=name)
    current = deployment.current
    earlier = [v for v in deployment.versions if v.promoted_at and current and v.version != current.version
               and v.promoted_at <= current.promoted_at]
    if not earlier:
        raise Conflict(f"The deployment '{name}' has no earlier promoted version to roll back to.")
    previous = max(earlier, key=lambda v: (v.promoted_at, v.version))
    with store.write() as session:
        row = _row(session, name)
        before = {"current_version": row.current_version, "candidate_version": row.candidate_version}
        row.current_version, row.candidate_version, row.candidate_weight = previous.version, None, 0.0
        # promoted_at stays as it was, so a second rollback goes further back instead of flipping between two.
        session.add(row)
        audit.record(session=session, actor=actor, action="deployment.rollback", target_type="deployment",
                     target_id=name, before=before, after={"current_version": previous.version})
        session.flush()
        return _info(session, row)


def set_traffic(store: Store, *, actor: Actor, name: str, candidate: int | None, weight: float) -> DeploymentInfo:
    """Sends `weight` (0..1) of the end users to version `candidate`, the rest to the current version; weight 0 or
    no candidate ends the split."""
    require(actor, Permission.MANAGE_DEPLOYMENTS)
    if not 0 <= weight <= 1:
        raise InvalidInput("The candidate's traffic weight must be between 0 and 1.")
    with store.write() as session:
        row = _row(session, name)
        if candidate is not None:
            _version_row(session, row, candidate)
            if candidate == row.current_version:
                raise InvalidInput(f"Version {candidate} serves already; split traffic with another version.")
        before = {"candidate_version": row.candidate_version, "candidate_weight": row.candidate_weight}
        if candidate is None or weight == 0:
            row.candidate_version, row.candidate_weight = None, 0.0
        else:
            row.candidate_version, row.candidate_weight = candidate, float(weight)
        session.add(row)
        audit.record(session=session, actor=actor, action="deployment.traffic", target_type="deployment",
                     target_id=name, before=before,
                     after={"candidate_version": row.candidate_version, "candidate_weight": row.candidate_weight})
        session.flush()
        return _info(session, row)


def user_share(user: str) -> float:
    """Where an end user falls in [0, 1): the same user always lands in the same place (sticky A/B arms)."""
    digest = hashlib.sha256(user.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def resolve(store: Store, name: str, user: str | None = None) -> Resolved | None:
    """The version that serves a request naming `name` for end user `user`; None when `name` is no deployment."""
    with store.read() as session:
        row = session.exec(select(Deployment).where(Deployment.name == name)).first()
        if row is None or row.current_version is None:
            return None
        arm, number = "primary", row.current_version
        if row.candidate_version is not None and row.candidate_weight > 0:
            share = user_share(user) if user else random.random()
            if share < row.candidate_weight:
                arm, number = "candidate", row.candidate_version
        return Resolved(version=VersionInfo.of(row.name, _version_row(session, row, number)), arm=arm)


def is_deployment(store: Store, name: str) -> bool:
    with store.read() as session:
        return session.exec(select(Deployment.id).where(Deployment.name == name)).first() is not None


def traffic(store: Store, *, actor: Actor, name: str) -> list[dict[str, Any]]:
    """Calls served per version and arm, from the event log (one SQL aggregate):
    [{"version", "arm", "calls", "errors", "thumbs_up", "feedback"}]."""
    require(actor, Permission.VIEW_MODELS)
    from sqlalchemy import case, func

    from core.storage.tables import InferenceEvent

    with store.read() as session:
        rows = session.exec(
            select(InferenceEvent.deployment_version, InferenceEvent.arm, func.count(),
                   func.sum(case((InferenceEvent.status != "ok", 1), else_=0)),
                   func.sum(case((InferenceEvent.feedback_score >= 0.5, 1), else_=0)),
                   func.count(InferenceEvent.feedback_score))
            .where(InferenceEvent.deployment == name)
            .group_by(InferenceEvent.deployment_version, InferenceEvent.arm)
            .order_by(InferenceEvent.deployment_version, InferenceEvent.arm)).all()
    return [{"version": v, "arm": arm, "calls": int(n), "errors": int(e or 0), "thumbs_up": int(up or 0),
             "feedback": int(fb or 0)} for v, arm, n, e, up, fb in rows]


def lineage(store: Store, *, actor: Actor, name: str, version: int | None = None) -> dict[str, Any]:
    """From a deployment version back to what made it: the model or adapter, its base, the fine-tune job, the
    dataset version and the people (who made the version, promoted it, launched the job)."""
    deployment = get_deployment(store, actor=actor, name=name)
    chosen = deployment.version(version if version is not None else deployment.current_version)
    if chosen is None:
        raise NotFound(f"The deployment '{name}' has no version {version}.")
    model = registry.get_model(store, actor=actor, name=chosen.model)
    found: dict[str, Any] = {
        "deployment": chosen.ref, "created_by": chosen.created_by, "promoted_by": chosen.promoted_by,
        "model": model.name, "kind": model.kind, "template": chosen.template, "base_model": model.base_model,
        "job_id": model.info.get("job_id"), "dataset_version": model.info.get("dataset_version"),
        "eval_dataset_version": model.info.get("eval_dataset_version"),
        "launched_by": model.info.get("launched_by"), "registered_by": model.created_by, "source": model.source,
    }
    return found
