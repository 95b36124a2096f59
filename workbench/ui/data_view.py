"""Pieces of the Data page: the upload's default name, outcome messages shown after a rerun, version captions,
the lineage table, the tokenizer picker's choices, and the cached reads of a version's first rows or one row
(the Prompts page previews a row through them too)."""
from __future__ import annotations

import re
from pathlib import Path, PurePath

import streamlit as st

from core.data import pii, versions
from core.data.versions import DatasetInfo, VersionInfo
from core.governance.roles import Actor
from core.models.files import TOKENIZER_FILES
from core.models.registry import ModelInfo
from workbench.ui import tables
from workbench.ui.text import inert

FLASH_KEY = "data.flash"
GOTO_KEY = "data.goto"
_NAME_FOR_KEY = "data.import_name_for"  # the uploaded file whose derived name the name box was last given
# A version's rows never change (the file is named by its hash), so a short cache only spares the reruns of one
# visit a re-read; it is keyed by the user too, so a role that may not read rows never gets them from it.
CACHE_TTL_S = 120


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=8)
def _head(_store, _actor: Actor, actor_key: tuple, home: str, _version: VersionInfo, sha256: str, rows: int):
    return versions.read_head(_store, actor=_actor, version=_version, rows=rows)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=64)
def _row(_store, _actor: Actor, actor_key: tuple, home: str, _version: VersionInfo, sha256: str, index: int):
    return versions.read_row(_store, actor=_actor, version=_version, index=index)


def head(store, actor: Actor, version: VersionInfo, rows: int = 1000):
    """The version's first `rows` rows (core.data.versions.read_head), cached for a couple of minutes."""
    return _head(store, actor, (actor.name, actor.role.value), str(store.settings.home), version, version.sha256,
                 rows)


def row(store, actor: Actor, version: VersionInfo, index: int) -> dict:
    """Row `index` (from 0) of the version as {column: value} (core.data.versions.read_row), cached likewise."""
    return _row(store, actor, (actor.name, actor.role.value), str(store.settings.home), version, version.sha256,
                index)


def dataset_name_for(file_name: str) -> str:
    """A valid dataset name from a file name: `tickets.csv` -> `tickets`, `My export (1).xlsx` -> `My-export-1`."""
    stem = PurePath(file_name).name
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem.lstrip(".")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:128].rstrip("-._")


def default_import_name(upload, *, key: str) -> None:
    """Puts the name derived from a newly uploaded file into the name box `key`, once per file: whatever the user
    types afterwards stays, and only another upload replaces it. Call before the text input is drawn."""
    if upload is None:
        st.session_state.pop(_NAME_FOR_KEY, None)
        return
    file_id = getattr(upload, "file_id", None) or upload.name
    if st.session_state.get(_NAME_FOR_KEY) != file_id:
        st.session_state[_NAME_FOR_KEY] = file_id
        st.session_state[key] = dataset_name_for(upload.name)


def done(message: str, *, show: VersionInfo | None = None) -> None:
    """Reruns the page so that pickers and tables include what was just made, then shows `message` (Markdown,
    already made inert) above the tabs; `show` becomes the selected dataset version."""
    st.session_state[FLASH_KEY] = message
    if show is not None:
        st.session_state[GOTO_KEY] = (show.dataset, show.version)
    st.rerun()


def select_pending() -> None:
    """Selects the version `done(show=...)` asked for. Call before the Dataset and Version pickers are drawn."""
    goto = st.session_state.pop(GOTO_KEY, None)
    if goto:
        dataset, number = goto
        st.session_state["data.selected"] = dataset
        st.session_state[f"data.version.{dataset}"] = number


def show_flash() -> None:
    """The message `done` left, if any. The container is drawn either way, so the elements after it keep their
    place and the tabs below stay on the tab the user was on."""
    slot = st.container()
    if FLASH_KEY in st.session_state:
        slot.success(st.session_state.pop(FLASH_KEY))


def origin(version: VersionInfo) -> str:
    """How a version came to be, as a reader would say it: "Imported from tickets.csv", "Redacted from tickets@2"."""
    parents = ", ".join(version.parents) or version.source
    params = version.params or {}
    match version.transformation:
        case "import":
            return f"Imported from {version.source}"
        case "redact":
            return f"Redacted from {parents}"
        case "dedupe":
            return ("Exact and near duplicates" if params.get("near") else "Duplicates") + f" removed from {parents}"
        case "filter":
            return f"Filtered from {parents}"
        case "split":
            part = params.get("part")
            return f"{part.capitalize()} split of {parents}" if part else f"Split from {parents}"
        case "merge":  # in the order they were stacked
            return "Merged from " + (", ".join(params["refs"]) if params.get("refs") else parents)
        case other:
            return f"{other.capitalize()} of {parents}"


def lineage_table(history: list[VersionInfo]) -> None:
    # "From" names the file of an import; for the rest the parents say it (and the caption above reads it out).
    tables.show([{"Version": v.ref, "Rows": f"{v.rows:,}", "Made by": v.transformation,
                  "From": v.source if v.transformation == "import" else "",
                  "Parents": ", ".join(v.parents), "Who": v.created_by, "When": v.created_at.strftime("%Y-%m-%d %H:%M"),
                  "Details": _details(v.stats)} for v in history],
                column_config={"Version": st.column_config.TextColumn(width="small"),
                               "Rows": st.column_config.TextColumn(width="small"),
                               "Made by": st.column_config.TextColumn(width="small"),
                               "Parents": st.column_config.TextColumn(width="medium"),
                               "Details": st.column_config.TextColumn(width="large")})


def _details(stats: dict) -> str:
    """`{"removed": 12, "format": "csv"}` -> `removed 12 · format csv` (nested values kept short)."""
    parts = []
    for key, value in (stats or {}).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in value.items()) or "none"
        elif isinstance(value, list):
            value = ", ".join(map(str, value[:5])) + (" ..." if len(value) > 5 else "") if value else "none"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        parts.append(f"{key.replace('_', ' ')} {value}")
    return " · ".join(parts)


def tokenizer_models(models: list[ModelInfo]) -> list[str]:
    """Chat models on this machine whose folder holds a tokenizer. Adapters (their tokenizer, if any, belongs to a
    base model), OpenAI-compatible endpoints (no local files) and embedding models are left out."""
    return [m.name for m in models
            if m.task == "chat" and m.is_local and m.path and Path(m.path).is_dir()
            and any((Path(m.path) / name).is_file() for name in TOKENIZER_FILES)]


def redaction_message(result) -> str:
    """`tickets@3 made from tickets@2 (e-mail: 4, phone: 1).`, or why no new version was made."""
    counts = ", ".join(f"{pii.PII_TYPES[k].label.lower()}: {v:,}" for k, v in result.counts.items())
    if result.version.ref == result.parent.ref:
        return f"Nothing to redact in {inert(result.parent.ref)}; no new version was made."
    message = f"{inert(result.version.ref)} made from {inert(result.parent.ref)} ({counts or 'nothing to redact'})"
    return message + ("." if result.created else "; the same content was already stored, so nothing new was saved.")


def made_message(made, *, verb: str = "Made") -> str:
    """`Made tickets@3 (2,950 rows); 50 rows removed.`, or that nothing changed when the result is the parent."""
    parent_refs = {p.ref for p in made.parents}
    if all(v.ref in parent_refs for v in made.versions):
        return f"Nothing to change: {', '.join(inert(v.ref) for v in made.versions)} already holds this content."
    return (f"{verb} " + ", ".join(f"{inert(v.ref)} ({v.rows:,} rows)" for v in made.versions)
            + (f"; {made.removed:,} rows removed." if made.removed else "."))


def catalogue(datasets: list[DatasetInfo]) -> None:
    """Read-only: what each dataset is and how big, without a row of its content (for viewers)."""
    st.caption("The datasets the workbench holds, read-only: names and sizes, never their rows.")
    if not datasets:
        st.info("No dataset has been imported yet.")
        return
    tables.show([
        {"Dataset": d.name, "Description": d.description or "", "Versions": d.versions,
         "Latest": d.latest.ref if d.latest else "", "Rows": d.latest.rows if d.latest else 0,
         "Columns": len(d.latest.columns) if d.latest else 0,
         "Size": tables.human_size(d.latest.size_bytes) if d.latest else "",
         "Updated": d.latest.created_at.strftime("%Y-%m-%d %H:%M") if d.latest else "",
         "By": d.latest.created_by if d.latest else d.created_by}
        for d in datasets
    ])


EXPORT_MIME = {"csv": "text/csv", "jsonl": "application/jsonl", "parquet": "application/vnd.apache.parquet",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export_button(store, actor, version: VersionInfo, fmt: str) -> None:
    """One step, any number of times: the file is written when the button is clicked (each click is an audited
    export), and the page does not rerun, so the button stays."""
    from core.data import export

    file_name = f"{version.dataset}-v{version.version}.{fmt}"

    def content() -> bytes:
        return export.export_bytes(store, actor=actor, ref=version.ref, fmt=fmt)[0]

    st.download_button(f"Download {file_name}", data=content, file_name=file_name, mime=EXPORT_MIME.get(fmt),
                       key="data.download", on_click="ignore", icon=":material/download:")
