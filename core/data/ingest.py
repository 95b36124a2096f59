"""Importing a file as a dataset version: read (core.data.readers), then store (core.data.versions)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data import readers, versions
from core.data.versions import VersionInfo
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store


@dataclass(frozen=True)
class ImportResult:
    version: VersionInfo
    created: bool
    format: str
    encoding: str | None
    delimiter: str | None
    skipped: list[readers.SkippedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The shape `workbench data import --json` prints."""
        return {
            "dataset": self.version.dataset, "version": self.version.version, "rows": self.version.rows,
            "columns": self.version.column_names, "sha256": self.version.sha256, "created": self.created,
            "format": self.format, "skipped": [{"line": s.line, "reason": s.reason} for s in self.skipped],
            "notes": self.notes,
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(
    store: Store, *, actor: Actor, path: str | Path, name: str, display_name: str | None = None,
    skip_bad_rows: bool = False, sheet: str | None = None, description: str | None = None,
) -> ImportResult:
    """Reads and stores a file; nothing is stored unless the whole file reads cleanly (or its bad rows are skipped)."""
    require(actor, Permission.MANAGE_DATA)
    versions.validate_dataset_name(name)
    path = Path(path)
    shown = display_name or path.name
    result = readers.read_table(path, display_name=shown, max_bytes=store.settings.max_upload_mb * 2**20,
                                skip_bad_rows=skip_bad_rows, sheet=sheet)
    stats: dict[str, Any] = {"format": result.format}
    if result.skipped:
        stats["skipped_rows"] = len(result.skipped)
        stats["skipped_lines"] = [s.line for s in result.skipped[:1000]]
    version, created = versions.save_version(
        store, actor=actor, name=name, frame=result.frame, transformation="import", source=shown,
        source_sha256=file_sha256(path), params={"skip_bad_rows": skip_bad_rows, "sheet": sheet,
                                                 "encoding": result.encoding, "delimiter": result.delimiter},
        stats=stats, description=description,
    )
    return ImportResult(version=version, created=created, format=result.format, encoding=result.encoding,
                        delimiter=result.delimiter, skipped=list(result.skipped), notes=list(result.notes))
