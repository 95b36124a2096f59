"""Pieces of the Prompts page: version table, diff, the rendered preview."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import streamlit as st

from core.prompts.templates import PromptDiff, PromptVersionInfo
from workbench.ui import tables

FLASH_KEY = "prompts.flash"
GOTO_KEY = "prompts.goto"


def versions_table(history: list[PromptVersionInfo]) -> None:
    tables.show([{"Version": v.version, "Labels": ", ".join(v.labels), "Variables": ", ".join(v.variables),
                  "Note": v.note or "", "By": v.created_by, "Saved (UTC)": v.created_at.strftime("%Y-%m-%d %H:%M")}
                 for v in history], key="prompts.versions_table")


def done(message: str, *, template: str | None = None, version: int | None = None) -> None:
    """Reruns so pickers include what was just saved, then shows `message` (already inert); the template and
    version given become the selected ones."""
    st.session_state[FLASH_KEY] = message
    if template:
        st.session_state[GOTO_KEY] = (template, version)
    st.rerun()


def select_pending() -> None:
    """Selects what `done` asked for. Setting the picker's value (rather than forgetting it) is what the browser
    honours: a forgotten key makes it send its old selection back."""
    if goto := st.session_state.pop(GOTO_KEY, None):
        template, version = goto
        st.session_state["prompts.selected"] = template
        if version is not None:
            st.session_state[f"prompts.version.{template}"] = version
        else:
            st.session_state.pop(f"prompts.version.{template}", None)


def show_flash() -> None:
    if FLASH_KEY in st.session_state:
        st.success(st.session_state.pop(FLASH_KEY))


def diff(result: PromptDiff) -> None:
    """A unified diff as a code block (plain text: the template text is never rendered as markup)."""
    if not result.changed:
        st.info(f"{result.old.ref} and {result.new.ref} are identical.")
        return
    added = sum(1 for line in result.lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in result.lines if line.startswith("-") and not line.startswith("---"))
    st.caption(f"{added} line(s) added, {removed} removed.")
    st.code("\n".join(result.lines), language="diff")


def side_by_side(result: PromptDiff) -> None:
    """The two versions next to each other, as plain text."""
    for column, version in zip(st.columns(2), (result.old, result.new)):
        with column:
            st.caption(f"{version.ref}" + (f" ({', '.join(version.labels)})" if version.labels else ""))
            if version.system:
                st.code(version.system, language="text", wrap_lines=True)
            st.code(version.body, language="text", wrap_lines=True)


def messages(chat: list[dict]) -> None:
    for message in chat:
        st.caption(message["role"].capitalize())
        st.text(message["content"])


# --- filling the template's variables from a dataset row ------------------------------------------------------

def best_dataset(versions: list, variables: list[str]) -> int:
    """The index of the dataset version whose columns match most of the template's variables (text columns
    first), so the preview does not default to an unrelated dataset; 0 when none matches."""
    def score(version) -> tuple[int, int]:
        kinds = {c["name"]: c.get("dtype") for c in version.columns}
        named = [v for v in variables if v in kinds]
        return len(named), sum(kinds[v] != "object" for v in named)
    scores = [score(v) for v in versions]
    return max(range(len(versions)), key=lambda i: scores[i]) if versions else 0


def default_column(columns: list[str], variable: str) -> int:
    """The column with the variable's name (any case), else the first column."""
    lowered = [c.lower() for c in columns]
    return lowered.index(variable.lower()) if variable.lower() in lowered else 0


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def template_value(value: Any) -> tuple[Any, str | None]:
    """A cell as a template variable gets it, and what kind of value it is when it is not plain text or a number
    (a list of chat messages, a dict): structured values go in as JSON, never as a Python dump."""
    value = _plain(value)
    if isinstance(value, list):
        kind = "a list of chat messages" if value and all(isinstance(v, dict) and "content" in v for v in value) \
            else "a list"
        return json.dumps(value, ensure_ascii=False, indent=1, default=str), kind
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, indent=1, default=str), "a record (key: value pairs)"
    return value, None


def variable_notes(mapping: dict[str, str], kinds: dict[str, str | None]) -> list[str]:
    """One sentence per variable filled from a column whose values are not text."""
    return [f"'{variable}' is filled from the column '{mapping[variable]}', which holds {kind}, not text: the "
            "template gets it as JSON. Pick a text column, or write the template for that structure."
            for variable, kind in kinds.items() if kind]
