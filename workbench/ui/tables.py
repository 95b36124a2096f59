"""Tables of untrusted values: always st.dataframe (text, never markup)."""
from __future__ import annotations

import pandas as pd
import streamlit as st


def show(rows: list[dict], *, column_config: dict | None = None, key: str | None = None, height: int | str = "auto") -> None:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config=column_config, key=key, height=height)


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def human_count(count: int | None) -> str:
    if count is None:
        return ""
    if count >= 1_000_000_000:
        return f"{count / 1e9:.2f} B"
    if count >= 1_000_000:
        return f"{count / 1e6:.1f} M"
    return f"{count:,}"
