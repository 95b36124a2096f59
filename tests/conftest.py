"""Shared fixtures: a temporary workbench home, stores on SQLite and PostgreSQL, the bundled models once."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from core.governance import users  # noqa: E402
from core.governance.roles import SYSTEM, Role  # noqa: E402
from core.home import open_store  # noqa: E402
from core.models import bundled  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.support import postgres  # noqa: E402

PASSWORD = "correct-horse-42"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Settings:
    """An empty workbench home in a temporary folder, on SQLite, used by every front door (env var)."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)
    return Settings.from_env()


@pytest.fixture
def store(home):
    store = open_store(home)
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 in a temporary data folder, for the whole session.

    The folder is made directly under /tmp: pytest's own temporary folders are private to root, and the
    server runs as an unprivileged account.
    """
    workdir = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    try:
        server = postgres.start(workdir)
        yield server
        server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg_store(postgres_server, tmp_path, monkeypatch):
    """A migrated store on a fresh PostgreSQL database."""
    url = postgres_server.create_database()
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", url)
    store = open_store(Settings.from_env())
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request):
    """The same test on both databases the workbench supports."""
    if request.param == "sqlite":
        return request.getfixturevalue("store")
    return request.getfixturevalue("pg_store")


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory):
    """The bundled models converted once per test session (the GGUF conversion takes ~20 s)."""
    folder = tmp_path_factory.mktemp("models")
    for model in bundled.BUNDLED_MODELS:
        bundled.install(folder, model)
    return folder


@pytest.fixture
def models_store(store, shared_models_dir):
    """A store whose model store is the shared one, with the bundled models registered."""
    store.settings.models_dir.rmdir()
    store.settings.models_dir.symlink_to(shared_models_dir, target_is_directory=True)
    bundled.install_bundled_models(store)
    return store


@pytest.fixture
def people(store):
    """One account per role, all with PASSWORD; returns {role: UserInfo}."""
    made = {}
    for name, role in (("ada", Role.ADMIN), ("dan", Role.DATA_SCIENTIST), ("ann", Role.ANNOTATOR), ("vic", Role.VIEWER)):
        made[role] = users.create_user(store, actor=SYSTEM, name=name, role=role, password=PASSWORD)
    return made
