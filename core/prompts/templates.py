"""Prompt templates as named series of immutable versions, with movable labels such as `production`.

A reference reads NAME (the latest version), NAME@3 (version 3) or NAME@production (the version a label
points to). Saving a body identical to the latest version makes no new version.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, func, select

from core.errors import Conflict, InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.prompts.render import check_template, render_messages
from core.storage.db import Store
from core.storage.tables import PromptLabel, PromptTemplate, PromptVersion, utcnow

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class PromptVersionInfo:
    template: str
    version: int
    body: str
    system: str | None
    variables: list[str]
    labels: list[str]
    note: str | None
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.template}@{self.version}"

    def messages(self, variables: dict[str, Any]) -> list[dict[str, str]]:
        return render_messages(self.body, variables, system=self.system)

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "version": self.version, "ref": self.ref, "body": self.body,
                "system": self.system, "variables": self.variables, "labels": self.labels, "note": self.note,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by}


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str | None
    versions: int
    latest: int
    labels: dict[str, int]  # label -> version
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "versions": self.versions,
                "latest": self.latest, "labels": self.labels,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by}


def validate_template_name(name: str) -> str:
    name = (name or "").strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid template name: use letters, digits, dots, dashes and "
                           "underscores (up to 128), starting with a letter or digit.")
    return name


def validate_label(label: str) -> str:
    label = (label or "").strip().lower() if isinstance(label, str) else label
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise InvalidInput(f"'{label}' is not a valid label: use lower-case letters, digits, dashes and underscores "
                           "(up to 64), starting with a letter, e.g. production or staging.")
    return label


def parse_ref(ref: str) -> tuple[str, str | None]:
    """'summary' -> ('summary', None); 'summary@2' -> ('summary', '2'); 'summary@production' -> (.., 'production')."""
    name, _, selector = (ref or "").strip().partition("@")
    if not name:
        raise InvalidInput(f"'{ref}' is not a template reference: write NAME, NAME@VERSION or NAME@LABEL.")
    return validate_template_name(name), (selector.strip() or None)


def _require_view(actor: Actor) -> None:
    # Templates are read wherever prompts are run; annotators rate blind and never see them.
    require(actor, Permission.RUN_INFERENCE)


def _labels_by_version(session: Session, template_id: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for label in session.exec(select(PromptLabel).where(PromptLabel.template_id == template_id)).all():
        found.setdefault(label.version_id, []).append(label.label)
    return {k: sorted(v) for k, v in found.items()}


def _info(session: Session, template: PromptTemplate, row: PromptVersion,
          labels_by_version: dict[int, list[str]] | None = None) -> PromptVersionInfo:
    """`labels_by_version` (from _labels_by_version) spares a query per version when listing many."""
    if labels_by_version is None:
        labels_by_version = _labels_by_version(session, template.id)
    labels = labels_by_version.get(row.id, [])
    return PromptVersionInfo(template=template.name, version=row.version, body=row.body, system=row.system,
                             variables=list(row.variables or []), labels=labels, note=row.note,
                             created_at=row.created_at, created_by=row.created_by)


def _template(session: Session, name: str) -> PromptTemplate:
    template = session.exec(select(PromptTemplate).where(PromptTemplate.name == name)).first()
    if template is None:
        raise NotFound(f"There is no prompt template named '{name}'.",
                       hint="See the templates with `workbench prompts list`.")
    return template


def _version_row(session: Session, template: PromptTemplate, selector: str | None) -> PromptVersion:
    query = select(PromptVersion).where(PromptVersion.template_id == template.id)
    if selector is None:
        row = session.exec(query.order_by(PromptVersion.version.desc())).first()
    elif selector.isdigit():
        row = session.exec(query.where(PromptVersion.version == int(selector))).first()
    else:
        label = session.exec(select(PromptLabel).where(PromptLabel.template_id == template.id,
                                                       PromptLabel.label == selector.lower())).first()
        if label is None:
            raise NotFound(f"Template '{template.name}' has no version labelled '{selector}'.")
        row = session.get(PromptVersion, label.version_id)
    if row is None:
        raise NotFound(f"Template '{template.name}' has no version {selector}.")
    return row


def save_version(store: Store, *, actor: Actor, name: str, body: str, system: str | None = None,
                 note: str | None = None, description: str | None = None) -> tuple[PromptVersionInfo, bool]:
    """Saves a new immutable version of template `name` (creating it); returns (version, created).

    The body and system prompt are parsed first: a syntax error stores nothing.
    """
    require(actor, Permission.MANAGE_PROMPTS)
    name = validate_template_name(name)
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("The template is empty; write the user message, with {{ variables }} to fill.")
    system = system if isinstance(system, str) and system.strip() else None
    variables = sorted(set(check_template(body)) | set(check_template(system, "The system prompt") if system else ()))
    note = (note or "").strip()[:1000] or None
    with store.write() as session:
        template = session.exec(select(PromptTemplate).where(PromptTemplate.name == name)).first()
        if template is None:
            template = PromptTemplate(name=name, description=(description or "").strip()[:2000] or None,
                                      created_by=actor.name)
            session.add(template)
            session.flush()
            audit.record(session=session, actor=actor, action="prompt.create", target_type="prompt_template",
                         target_id=name)
        latest = session.exec(select(PromptVersion).where(PromptVersion.template_id == template.id)
                              .order_by(PromptVersion.version.desc())).first()
        if latest is not None and latest.body == body and latest.system == system:
            return _info(session, template, latest), False
        row = PromptVersion(template_id=template.id, version=(latest.version if latest else 0) + 1, body=body,
                            system=system, variables=variables, note=note, created_by=actor.name)
        session.add(row)
        session.flush()
        info = _info(session, template, row)
        audit.record(session=session, actor=actor, action="prompt.save", target_type="prompt_version",
                     target_id=info.ref, after={"body": body, "system": system, "variables": variables},
                     detail=note)
        return info, True


def get_version(store: Store, *, actor: Actor, ref: str) -> PromptVersionInfo:
    _require_view(actor)
    name, selector = parse_ref(ref)
    with store.read() as session:
        template = _template(session, name)
        return _info(session, template, _version_row(session, template, selector))


def list_versions(store: Store, *, actor: Actor, name: str) -> list[PromptVersionInfo]:
    """Newest first."""
    _require_view(actor)
    with store.read() as session:
        template = _template(session, validate_template_name(name))
        rows = session.exec(select(PromptVersion).where(PromptVersion.template_id == template.id)
                            .order_by(PromptVersion.version.desc())).all()
        labels = _labels_by_version(session, template.id)  # one query for every version's labels
        return [_info(session, template, row, labels) for row in rows]


def list_templates(store: Store, *, actor: Actor) -> list[TemplateInfo]:
    _require_view(actor)
    with store.read() as session:
        counts = dict(session.exec(select(PromptVersion.template_id, func.count()).group_by(PromptVersion.template_id)).all())
        latest = dict(session.exec(select(PromptVersion.template_id, func.max(PromptVersion.version))
                                   .group_by(PromptVersion.template_id)).all())
        versions = {v.id: v.version for v in session.exec(select(PromptVersion)).all()}
        labels: dict[int, dict[str, int]] = {}
        for label in session.exec(select(PromptLabel)).all():
            labels.setdefault(label.template_id, {})[label.label] = versions.get(label.version_id, 0)
        return [TemplateInfo(name=t.name, description=t.description, versions=counts.get(t.id, 0),
                             latest=latest.get(t.id, 0), labels=dict(sorted(labels.get(t.id, {}).items())),
                             created_at=t.created_at, created_by=t.created_by)
                for t in session.exec(select(PromptTemplate).order_by(PromptTemplate.name)).all()]


def set_label(store: Store, *, actor: Actor, ref: str, label: str) -> PromptVersionInfo:
    """Points `label` of the template at the version `ref` names (moving it from another version if needed)."""
    require(actor, Permission.MANAGE_PROMPTS)
    label = validate_label(label)
    if label == "latest":
        raise InvalidInput("'latest' always means the newest version; choose another label.")
    name, selector = parse_ref(ref)
    with store.write() as session:
        template = _template(session, name)
        row = _version_row(session, template, selector)
        existing = session.exec(select(PromptLabel).where(PromptLabel.template_id == template.id,
                                                          PromptLabel.label == label)).first()
        before = None
        if existing is None:
            session.add(PromptLabel(template_id=template.id, label=label, version_id=row.id, updated_by=actor.name))
        else:
            if existing.version_id == row.id:
                return _info(session, template, row)
            before = {"version": session.get(PromptVersion, existing.version_id).version}
            existing.version_id, existing.updated_at, existing.updated_by = row.id, utcnow(), actor.name
            session.add(existing)
        session.flush()
        audit.record(session=session, actor=actor, action="prompt.label", target_type="prompt_template",
                     target_id=name, before=before, after={"label": label, "version": row.version})
        return _info(session, template, row)


def remove_label(store: Store, *, actor: Actor, name: str, label: str) -> None:
    require(actor, Permission.MANAGE_PROMPTS)
    label = validate_label(label)
    with store.write() as session:
        template = _template(session, validate_template_name(name))
        existing = session.exec(select(PromptLabel).where(PromptLabel.template_id == template.id,
                                                          PromptLabel.label == label)).first()
        if existing is None:
            raise NotFound(f"Template '{name}' has no label '{label}'.")
        version = session.get(PromptVersion, existing.version_id).version
        session.delete(existing)
        audit.record(session=session, actor=actor, action="prompt.unlabel", target_type="prompt_template",
                     target_id=name, before={"label": label, "version": version})


@dataclass(frozen=True)
class PromptDiff:
    old: PromptVersionInfo
    new: PromptVersionInfo
    lines: list[str]  # unified diff of system prompt and body

    @property
    def changed(self) -> bool:
        return bool(self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old.ref, "new": self.new.ref, "changed": self.changed, "diff": "\n".join(self.lines)}


def _as_lines(version: PromptVersionInfo) -> list[str]:
    lines = [f"[system] {line}" for line in (version.system or "").splitlines()]
    return lines + (version.body or "").splitlines()


def diff_versions(store: Store, *, actor: Actor, old: str, new: str) -> PromptDiff:
    """Line diff between two versions (any two references, also across templates)."""
    a, b = get_version(store, actor=actor, ref=old), get_version(store, actor=actor, ref=new)
    lines = list(difflib.unified_diff(_as_lines(a), _as_lines(b), fromfile=a.ref, tofile=b.ref, lineterm=""))
    return PromptDiff(old=a, new=b, lines=lines)


def count_templates(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(PromptTemplate)).one()


def ensure_new_name(store: Store, name: str) -> None:
    """For forms that create a template: refuses a name already taken."""
    with store.read() as session:
        if session.exec(select(PromptTemplate).where(PromptTemplate.name == validate_template_name(name))).first():
            raise Conflict(f"A template named '{name}' already exists; open it to save a new version.")
