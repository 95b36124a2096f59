"""The only place that caches resources for the app: the store (engine) per workbench home and database."""
from __future__ import annotations

import streamlit as st

from core.home import open_store
from core.settings import Settings
from core.storage.db import Store


@st.cache_resource(show_spinner="Opening the workbench database...")
def _store(home: str, database_url: str) -> Store:
    return open_store(Settings.from_env())


def settings() -> Settings:
    return Settings.from_env()


def store() -> Store:
    """One migrated store per (home, database); keyed so a changed WORKBENCH_HOME gets its own."""
    current = settings()
    return _store(str(current.home), current.database_url)
