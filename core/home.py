"""The workbench home: its folders, the schema, the first admin and the bundled models."""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.governance import users
from core.governance.roles import SYSTEM, Role
from core.models.bundled import install_bundled_models
from core.settings import Settings
from core.storage import migrate
from core.storage.db import Store

FIRST_ADMIN = "admin"
ADMIN_PASSWORD_FILE = "initial_admin_password.txt"


@dataclass
class InitReport:
    home: str
    database: str
    schema_revision: str
    admin_created: bool = False
    admin_password_file: str | None = None
    models_registered: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def make_folders(settings: Settings) -> None:
    for folder in (settings.home, settings.models_dir, settings.datasets_dir, settings.runs_dir, settings.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)


def open_store(settings: Settings | None = None) -> Store:
    """A store on a migrated schema: what every front door calls first."""
    settings = settings or Settings.from_env()
    make_folders(settings)
    store = Store(settings)
    migrate.upgrade(store)
    return store


def write_secret(path: Path, text: str) -> None:
    """Creates the file readable by its owner only, before any secret is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def create_first_admin(store: Store) -> Path | None:
    """On an empty user table: an admin whose password comes from WORKBENCH_ADMIN_PASSWORD or is generated."""
    if users.count_users(store) > 0:
        return None
    password = os.environ.get("WORKBENCH_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    users.create_user(store, actor=SYSTEM, name=FIRST_ADMIN, role=Role.ADMIN, password=password)
    path = store.settings.home / ADMIN_PASSWORD_FILE
    write_secret(path, f"{FIRST_ADMIN}\n{password}\n")
    return path


def init_workbench(settings: Settings | None = None, *, with_models: bool = True,
                   progress: Callable[[str], None] | None = None) -> InitReport:
    """Idempotent: folders, migrations, first admin, bundled models."""
    store = open_store(settings)
    try:
        report = InitReport(home=str(store.settings.home), database=store.settings.database_label,
                            schema_revision=migrate.current_revision(store) or "")
        admin_file = create_first_admin(store)
        report.admin_created = admin_file is not None
        existing = store.settings.home / ADMIN_PASSWORD_FILE
        report.admin_password_file = str(existing) if existing.exists() else None
        if with_models:
            report.models_registered = install_bundled_models(store, progress=progress)
            _unpack_language_model(store.settings, progress)
        return report
    finally:
        store.dispose()


def _unpack_language_model(settings: Settings, progress: Callable[[str], None] | None) -> None:
    """The data profile's language model, unpacked into the cache now rather than on the first profile (~0.5 s)."""
    from core.data import textstats

    if progress:
        progress("Unpacking the language identification model")
    try:
        textstats.unpack_language_model(settings.cache_dir)
    except OSError:  # an unwritable cache: profiles then read the packaged model
        pass
