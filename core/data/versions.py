"""Datasets and their immutable versions: content-addressed Parquet files plus rows that record provenance.

A version's rows are written once as Parquet under `datasets/objects/<sha256>.parquet`, named by the hash of
the file's bytes; the same content imported twice (into any dataset) shares one file, and importing the same
content into the same dataset again returns the version that already holds it.
"""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlmodel import Session, col, func, select

from core.errors import InvalidInput, NotFound
from core.files import write_atomically
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import Dataset, DatasetVersion, DatasetVersionParent

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TRANSFORMATIONS = ("import", "redact", "filter", "split", "dedupe", "merge", "feedback")


@dataclass(frozen=True)
class VersionInfo:
    dataset: str
    version: int
    id: int
    sha256: str
    rows: int
    columns: list[dict[str, Any]]
    size_bytes: int
    transformation: str
    source: str
    source_sha256: str | None
    params: dict[str, Any]
    stats: dict[str, Any]
    created_at: datetime
    created_by: str
    parents: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "version": self.version, "ref": self.ref, "sha256": self.sha256,
            "rows": self.rows, "columns": self.columns, "size_bytes": self.size_bytes,
            "transformation": self.transformation, "source": self.source, "source_sha256": self.source_sha256,
            "params": self.params, "stats": self.stats, "parents": self.parents,
            "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
        }


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str | None
    created_at: datetime
    created_by: str
    versions: int
    latest: VersionInfo | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "versions": self.versions,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
                "latest": self.latest.to_dict() if self.latest else None}


def check_name(name: str, what: str) -> str:
    """A versioned thing's name (a dataset, an evaluation suite): letters, digits, dots, dashes, underscores."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid {what} name: use letters, digits, dots, dashes and "
                           "underscores (up to 128), starting with a letter or digit.")
    return name


def split_ref(ref: str, what: str) -> tuple[str, int | None]:
    """'tickets' -> ('tickets', None: the latest); 'tickets@3' -> ('tickets', 3)."""
    name, _, version = (ref or "").strip().partition("@")
    if not version:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"'{ref}' is not a {what} version: write NAME or NAME@N with N a version number.")
    return name, int(version)


def validate_dataset_name(name: str) -> str:
    return check_name(name, "dataset")


def parse_ref(ref: str) -> tuple[str, int | None]:
    return split_ref(ref, "dataset")


def object_path(datasets_dir: Path, sha256: str) -> Path:
    return datasets_dir / "objects" / sha256[:2] / f"{sha256}.parquet"


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def write_object(datasets_dir: Path, frame: pd.DataFrame) -> tuple[str, int]:
    """Writes the frame once, atomically; returns (sha256, size in bytes)."""
    data = frame_to_parquet_bytes(frame)
    sha = hashlib.sha256(data).hexdigest()
    path = object_path(datasets_dir, sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    return sha, len(data)


def describe_columns(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"name": str(name), "dtype": str(dtype)} for name, dtype in frame.dtypes.items()]


def _info(session: Session, dataset: Dataset, row: DatasetVersion) -> VersionInfo:
    parents = session.exec(
        select(Dataset.name, DatasetVersion.version)
        .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
        .join(DatasetVersionParent, DatasetVersionParent.parent_id == DatasetVersion.id)
        .where(DatasetVersionParent.child_id == row.id)
    ).all()
    return VersionInfo(
        dataset=dataset.name, version=row.version, id=row.id, sha256=row.sha256, rows=row.rows,
        columns=list(row.columns), size_bytes=row.size_bytes, transformation=row.transformation, source=row.source,
        source_sha256=row.source_sha256, params=dict(row.params or {}), stats=dict(row.stats or {}),
        created_at=row.created_at, created_by=row.created_by, parents=[f"{n}@{v}" for n, v in parents],
    )


def save_version(
    store: Store, *, actor: Actor, name: str, frame: pd.DataFrame, transformation: str, source: str,
    source_sha256: str | None = None, parents: list[VersionInfo] = (), params: dict | None = None,
    stats: dict | None = None, description: str | None = None,
) -> tuple[VersionInfo, bool]:
    """Stores `frame` as the next version of `name` (creating the dataset); returns (version, created).

    Same content as the latest version of the same dataset: nothing new is made, that version is returned.
    """
    require(actor, Permission.MANAGE_DATA)
    name = validate_dataset_name(name)
    if transformation not in TRANSFORMATIONS:
        raise InvalidInput(f"'{transformation}' is not a dataset transformation.")
    sha, size = write_object(store.settings.datasets_dir, frame)
    with store.write() as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == name)).first()
        if dataset is None:
            dataset = Dataset(name=name, description=description, created_by=actor.name)
            session.add(dataset)
            session.flush()
            audit.record(session=session, actor=actor, action="dataset.create", target_type="dataset", target_id=name)
        same = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id,
                                                         DatasetVersion.sha256 == sha)).first()
        if same is not None:
            return _info(session, dataset, same), False
        latest = session.exec(select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)).one()
        row = DatasetVersion(
            dataset_id=dataset.id, version=(latest or 0) + 1, sha256=sha, rows=len(frame),
            columns=describe_columns(frame), size_bytes=size, transformation=transformation, source=source[:1024],
            source_sha256=source_sha256, params=params or {}, stats=stats or {}, created_by=actor.name,
        )
        session.add(row)
        session.flush()
        for parent in parents:
            session.add(DatasetVersionParent(child_id=row.id, parent_id=parent.id))
        session.flush()
        info = _info(session, dataset, row)
        audit.record(session=session, actor=actor, action=f"dataset.{transformation}", target_type="dataset_version",
                     target_id=info.ref, after={"sha256": sha, "rows": len(frame), "parents": info.parents,
                                                "params": params or {}, "stats": stats or {}},
                     detail=source[:1000])
        return info, True


def get_version(store: Store, *, actor: Actor, ref: str) -> VersionInfo:
    """Metadata of NAME[@N] (the latest without @N). Seeing metadata needs no right to see rows."""
    _require_metadata(actor)
    name, number = parse_ref(ref)
    with store.read() as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == name)).first()
        if dataset is None:
            raise NotFound(f"There is no dataset named '{name}'.", hint="`workbench data list` shows them.")
        query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
        query = query.where(DatasetVersion.version == number) if number else query.order_by(col(DatasetVersion.version).desc())
        row = session.exec(query).first()
        if row is None:
            raise NotFound(f"Dataset '{name}' has no version {number}.")
        return _info(session, dataset, row)


def load_frame(store: Store, *, actor: Actor, version: VersionInfo) -> pd.DataFrame:
    """The rows of a version: only for roles that may see raw rows."""
    require(actor, Permission.VIEW_DATA_ROWS)
    path = object_path(store.settings.datasets_dir, version.sha256)
    if not path.exists():
        raise NotFound(f"The file of {version.ref} is missing from the workbench home ({path}).")
    return pd.read_parquet(path)


def _require_metadata(actor: Actor) -> None:
    """Names, sizes and lineage of datasets: for those who see rows and for managers' dashboards."""
    if not actor.can(Permission.VIEW_DATA_ROWS):
        require(actor, Permission.VIEW_DASHBOARDS)


def list_datasets(store: Store, *, actor: Actor) -> list[DatasetInfo]:
    _require_metadata(actor)
    with store.read() as session:
        result = []
        for dataset in session.exec(select(Dataset).order_by(Dataset.name)):
            versions = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
                                    .order_by(col(DatasetVersion.version).desc())).all()
            latest = _info(session, dataset, versions[0]) if versions else None
            result.append(DatasetInfo(name=dataset.name, description=dataset.description, created_at=dataset.created_at,
                                      created_by=dataset.created_by, versions=len(versions), latest=latest))
        return result


def list_versions(store: Store, *, actor: Actor, name: str) -> list[VersionInfo]:
    latest = get_version(store, actor=actor, ref=name)
    return [get_version(store, actor=actor, ref=f"{name}@{n}") for n in range(latest.version, 0, -1)]


@dataclass(frozen=True)
class Lineage:
    version: VersionInfo
    ancestors: list[tuple[str, str]]  # (parent ref, child ref) edges up to the roots
    descendants: list[tuple[str, str]]  # (parent ref, child ref) edges down to the leaves
    nodes: dict[str, VersionInfo]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version.ref, "ancestors": [list(e) for e in self.ancestors],
                "descendants": [list(e) for e in self.descendants],
                "nodes": {ref: {"transformation": v.transformation, "rows": v.rows, "created_by": v.created_by,
                                "created_at": v.created_at.isoformat(timespec="seconds"), "source": v.source}
                          for ref, v in self.nodes.items()}}


def lineage(store: Store, *, actor: Actor, ref: str) -> Lineage:
    """A version's ancestors and everything made from it, as edges between refs."""
    start = get_version(store, actor=actor, ref=ref)
    with store.read() as session:
        refs = {row.id: (name, row) for name, row in session.exec(
            select(Dataset.name, DatasetVersion).join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id))}
        edges = session.exec(select(DatasetVersionParent)).all()
        datasets = {d.name: d for d in session.exec(select(Dataset))}
        nodes_by_id = {vid: _info(session, datasets[name], row) for vid, (name, row) in refs.items()}
    parents_of: dict[int, list[int]] = {}
    children_of: dict[int, list[int]] = {}
    for edge in edges:
        parents_of.setdefault(edge.child_id, []).append(edge.parent_id)
        children_of.setdefault(edge.parent_id, []).append(edge.child_id)

    def walk(start_id: int, step: dict[int, list[int]], upward: bool) -> list[tuple[str, str]]:
        found, queue, seen = [], [start_id], {start_id}
        while queue:
            current = queue.pop()
            for other in step.get(current, []):
                pair = (nodes_by_id[other].ref, nodes_by_id[current].ref) if upward else \
                       (nodes_by_id[current].ref, nodes_by_id[other].ref)
                found.append(pair)
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        return found

    ancestors = walk(start.id, parents_of, upward=True)
    descendants = walk(start.id, children_of, upward=False)
    involved = {start.ref} | {r for edge in ancestors + descendants for r in edge}
    nodes = {v.ref: v for v in nodes_by_id.values() if v.ref in involved}
    return Lineage(version=start, ancestors=ancestors, descendants=descendants, nodes=nodes)


def count_datasets(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(Dataset)).one()
