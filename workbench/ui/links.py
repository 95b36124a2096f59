"""Links between pages by their url path (the names in workbench/navigation.py)."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from workbench.navigation import page_by_url


def page_link(url_path: str, label: str, icon: str | None = None) -> None:
    spec = page_by_url(url_path)
    try:
        st.page_link(str(spec.path), label=label, icon=icon or spec.icon)
    except StreamlitPageNotFoundError:
        # A page run on its own (tests, `streamlit run pages/x.py`) has no navigation to link through.
        st.markdown(f"[{label}](/{spec.url_path})")
