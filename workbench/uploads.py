"""Uploaded files: streamed to a private temporary file in the workbench home, removed after use."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.settings import Settings


@contextmanager
def saved_upload(upload, settings: Settings) -> Iterator[Path]:
    folder = settings.home / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(upload.name).suffix[:16]
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            upload.seek(0)
            shutil.copyfileobj(upload, handle, length=1 << 20)
        yield Path(name)
    finally:
        os.unlink(name)
