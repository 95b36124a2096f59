"""Exports a dataset version to CSV, JSONL, Parquet or Excel; spreadsheet formats neutralise formulas."""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import versions
from core.errors import InvalidInput
from core.exports import neutralise_cell
from core.files import atomic_path
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store

EXPORT_FORMATS = ("csv", "jsonl", "parquet", "xlsx")


@dataclass(frozen=True)
class ExportResult:
    ref: str
    format: str
    path: str
    rows: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value


def _flat_for_spreadsheet(frame: pd.DataFrame) -> pd.DataFrame:
    """Nested values become JSON text; every text cell a spreadsheet would run is neutralised."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            nested = column.map(lambda v: isinstance(v, (list, dict, np.ndarray)))
            if nested.any():
                column = column.map(lambda v: json.dumps(_jsonable(v), ensure_ascii=False)
                                    if isinstance(v, (list, dict, np.ndarray)) else v)
            out[name] = column.map(neutralise_cell).astype(object)
    return out


def write_frame(frame: pd.DataFrame, fmt: str, out: Path) -> None:
    if fmt == "csv":
        _flat_for_spreadsheet(frame).to_csv(out, index=False, encoding="utf-8")
    elif fmt == "xlsx":
        _flat_for_spreadsheet(frame).to_excel(out, index=False, engine="openpyxl")
    elif fmt == "jsonl":
        with open(out, "w", encoding="utf-8") as handle:
            for record in frame.to_dict(orient="records"):
                handle.write(json.dumps(_jsonable(record), ensure_ascii=False) + "\n")
    else:
        frame.to_parquet(out, index=False)


def export_version(store: Store, *, actor: Actor, ref: str, fmt: str, out: str | Path) -> ExportResult:
    require(actor, Permission.MANAGE_DATA)
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"'{fmt}' is not an export format; choose one of {', '.join(EXPORT_FORMATS)}.")
    out = Path(out)
    if not out.parent.exists():
        raise InvalidInput(f"The folder {out.parent} does not exist.")
    version = versions.get_version(store, actor=actor, ref=ref)
    # An interrupted export never leaves half a file under the name.
    with atomic_path(out, suffix=f".{fmt}") as tmp:
        if fmt == "parquet":
            shutil.copyfile(versions.object_path(store.settings.datasets_dir, version.sha256), tmp)
        else:
            write_frame(versions.load_frame(store, actor=actor, version=version), fmt, tmp)
    with store.write() as session:
        audit.record(session=session, actor=actor, action="dataset.export", target_type="dataset_version",
                     target_id=version.ref, after={"format": fmt, "path": str(out)})
    return ExportResult(ref=version.ref, format=fmt, path=str(out), rows=version.rows)


def export_bytes(store: Store, *, actor: Actor, ref: str, fmt: str) -> tuple[bytes, str]:
    """For the browser's download button: (content, file name)."""
    version = versions.get_version(store, actor=actor, ref=ref)
    with tempfile.TemporaryDirectory() as folder:
        name = f"{version.dataset}-v{version.version}.{fmt}"
        result = export_version(store, actor=actor, ref=ref, fmt=fmt, out=Path(folder) / name)
        return Path(result.path).read_bytes(), name
