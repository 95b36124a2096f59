"""The app's own answer to a page URL that names no page (instead of Streamlit's "page not found" box)."""
from __future__ import annotations

import re

import streamlit as st

from workbench.ui.text import inert

_URL_PATH = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def requested_page() -> str | None:
    """The page name in the URL this run was asked for ("" or None for the start page)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    try:
        return ctx.pages_manager.intended_page_name if ctx else None
    except AttributeError:  # a Streamlit without it: its own box answers instead
        return None


def pages_for(known: set[str]) -> list:
    """A hidden page at the requested URL when that URL names no known page, so the app answers it itself."""
    name = requested_page()
    if not name or name in known or not _URL_PATH.match(name):
        return []

    def answer() -> None:
        st.header("No such page")
        st.warning(f"The workbench has no page called '{inert(name)}'. The link may be mistyped or out of date.")
        st.markdown("[Go to the start page](/)")

    return [st.Page(answer, title="No such page", url_path=name, visibility="hidden")]
