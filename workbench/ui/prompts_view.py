"""Pieces of the Prompts page: version table, diff, the rendered preview."""
from __future__ import annotations

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
