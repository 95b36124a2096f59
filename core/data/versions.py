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


# Rows per Parquet row group: reading one row (read_row) decodes one group, not the file. A frame up to this size
# is one group, byte for byte the file it was before the groups were bounded (so its hash, its id, is unchanged).
ROW_GROUP_ROWS = 65_536


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False, compression="zstd", row_group_size=ROW_GROUP_ROWS)
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


def _parents_of(session: Session, version_ids: list[int]) -> dict[int, list[str]]:
    """Parent refs per child version id, for many versions in one query."""
    if not version_ids:
        return {}
    found: dict[int, list[str]] = {}
    for child_id, name, number in session.exec(
        select(DatasetVersionParent.child_id, Dataset.name, DatasetVersion.version)
        .join(DatasetVersion, DatasetVersionParent.parent_id == DatasetVersion.id)
        .join(Dataset, DatasetVersion.dataset_id == Dataset.id)
        .where(col(DatasetVersionParent.child_id).in_(version_ids))
        .order_by(DatasetVersionParent.child_id, DatasetVersionParent.parent_id)
    ):
        found.setdefault(child_id, []).append(f"{name}@{number}")
    return found


def _make_info(name: str, row: DatasetVersion, parents: list[str]) -> VersionInfo:
    return VersionInfo(
        dataset=name, version=row.version, id=row.id, sha256=row.sha256, rows=row.rows,
        columns=list(row.columns), size_bytes=row.size_bytes, transformation=row.transformation, source=row.source,
        source_sha256=row.source_sha256, params=dict(row.params or {}), stats=dict(row.stats or {}),
        created_at=row.created_at, created_by=row.created_by, parents=parents,
    )


def _infos(session: Session, named_rows: list[tuple[str, DatasetVersion]]) -> list[VersionInfo]:
    """VersionInfo for many (dataset name, version row) pairs: their parents come in one query."""
    parents = _parents_of(session, [row.id for _, row in named_rows])
    return [_make_info(name, row, parents.get(row.id, [])) for name, row in named_rows]


def _info(session: Session, dataset: Dataset, row: DatasetVersion) -> VersionInfo:
    return _infos(session, [(dataset.name, row)])[0]


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


def _object_file(store: Store, actor: Actor, version: VersionInfo):
    """The version's Parquet file opened for reading parts of it (row groups), for roles that may see rows."""
    import pyarrow.parquet as pq

    require(actor, Permission.VIEW_DATA_ROWS)
    path = object_path(store.settings.datasets_dir, version.sha256)
    if not path.exists():
        raise NotFound(f"The file of {version.ref} is missing from the workbench home ({path}).")
    return pq.ParquetFile(path)


def read_head(store: Store, *, actor: Actor, version: VersionInfo, rows: int = 1000) -> pd.DataFrame:
    """The first `rows` rows of a version, read from the first row groups only (a page shows them without
    loading a million-row file)."""
    import pyarrow as pa

    if rows < 0:
        raise InvalidInput("The number of rows must not be negative.")
    parquet = _object_file(store, actor, version)
    batches, taken = [], 0
    if rows:
        for batch in parquet.iter_batches(batch_size=min(rows, 65_536)):
            batches.append(batch.slice(0, rows - taken))
            taken += batches[-1].num_rows
            if taken >= rows:
                break
    table = pa.Table.from_batches(batches, schema=parquet.schema_arrow) if batches else \
        parquet.schema_arrow.empty_table()
    return table.to_pandas()


def read_row(store: Store, *, actor: Actor, version: VersionInfo, index: int) -> dict[str, Any]:
    """Row `index` (from 0) of a version as {column: value}, read from the one row group that holds it."""
    parquet = _object_file(store, actor, version)
    total = parquet.metadata.num_rows
    if not 0 <= index < total:
        raise InvalidInput(f"{version.ref} has {total:,} rows; there is no row {index + 1:,}.")
    start = 0
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        if index < start + size:
            return parquet.read_row_group(group).slice(index - start, 1).to_pandas().iloc[0].to_dict()
        start += size
    raise NotFound(f"Row {index + 1:,} of {version.ref} is missing from its file.")  # metadata and groups disagree


def _require_metadata(actor: Actor) -> None:
    """Names, sizes and lineage of datasets: for those who see rows and for managers' dashboards."""
    if not actor.can(Permission.VIEW_DATA_ROWS):
        require(actor, Permission.VIEW_DASHBOARDS)


def list_datasets(store: Store, *, actor: Actor) -> list[DatasetInfo]:
    """Every dataset with its version count and latest version: a fixed number of queries, however many."""
    _require_metadata(actor)
    with store.read() as session:
        datasets = session.exec(select(Dataset).order_by(Dataset.name)).all()
        counts = dict(session.exec(select(DatasetVersion.dataset_id, func.count())
                                   .group_by(DatasetVersion.dataset_id)).all())
        newest = (select(DatasetVersion.dataset_id, func.max(DatasetVersion.version).label("version"))
                  .group_by(DatasetVersion.dataset_id).subquery())
        latest_rows = session.exec(select(DatasetVersion).join(
            newest, (DatasetVersion.dataset_id == newest.c.dataset_id) & (DatasetVersion.version == newest.c.version))
        ).all()
        names = {d.id: d.name for d in datasets}
        latest = {info.dataset: info for info in _infos(session, [(names[r.dataset_id], r) for r in latest_rows])}
        return [DatasetInfo(name=d.name, description=d.description, created_at=d.created_at, created_by=d.created_by,
                            versions=counts.get(d.id, 0), latest=latest.get(d.name)) for d in datasets]


def list_versions(store: Store, *, actor: Actor, name: str) -> list[VersionInfo]:
    """A dataset's versions, newest first (three queries, however many versions)."""
    _require_metadata(actor)
    name = parse_ref(name)[0]
    with store.read() as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == name)).first()
        if dataset is None:
            raise NotFound(f"There is no dataset named '{name}'.", hint="`workbench data list` shows them.")
        rows = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
                            .order_by(col(DatasetVersion.version).desc())).all()
        return _infos(session, [(dataset.name, row) for row in rows])


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
        nodes_by_id = {info.id: info for info in _infos(session, list(refs.values()))}
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
