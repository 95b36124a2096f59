"""The one place that turns exceptions into something a user reads."""
from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager

import streamlit as st

from core.errors import WorkbenchError
from core.settings import Settings
from workbench.ui.text import inert

log = logging.getLogger("workbench.ui")


@contextmanager
def shown_to_user():
    """A WorkbenchError becomes its sentence and hint; anything else a short message and a log line.

    Streamlit's st.stop / st.rerun raise BaseException subclasses, which pass through untouched.
    """
    try:
        yield
    except WorkbenchError as exc:
        # Messages quote user input (file and column names), so they are shown as literal text.
        st.error(inert(exc.message))
        if exc.hint:
            st.caption(inert(exc.hint))
    except Exception as exc:  # an unexpected failure must not show a traceback to users
        log.exception("unexpected error in a page")
        st.error("Something went wrong on our side; the details are in the workbench log.")
        if _debug():
            st.code("".join(traceback.format_exception(exc)), language="text")


def _debug() -> bool:
    try:
        return Settings.from_env().debug
    except WorkbenchError:
        return False
