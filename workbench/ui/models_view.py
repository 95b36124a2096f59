"""The model registry on screen: the table, one model's details, the register form and the remove dialog.

Everything a model or a user wrote (names, paths, sources, config values) is shown in tables, st.code, st.text or
st.json, or passed through `inert()` inside Markdown-rendering calls.
"""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from core.governance.roles import Actor
from core.models import registry, sources
from core.models.registry import ModelInfo
from core.storage.db import Store
from workbench.ui import errors, tables
from workbench.ui.text import inert

KINDS = {  # what the register form offers, in this order
    "hf_local": "Local Hugging Face folder",
    "hf_hub": "Hugging Face hub (needs a network)",
    "gguf": "GGUF file",
    "openai": "OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, OpenAI)",
    "adapter": "LoRA adapter",
}


def derived_by_base(models: list[ModelInfo]) -> dict[str, list[str]]:
    made: dict[str, list[str]] = {}
    for m in models:
        if m.base_model:
            made.setdefault(m.base_model, []).append(m.name)
    return made


def _price(m: ModelInfo) -> str:
    if not (m.price_per_1k_input or m.price_per_1k_output):
        return "free" if m.is_local or m.kind == "adapter" else "not set"
    return f"${m.price_per_1k_input:g} / ${m.price_per_1k_output:g}"


_PATH = re.compile(r"(?<![\w:/.~-])(?:~/|/)[^\s,;)]*")  # an absolute or home-relative path in a text
HIDDEN_PATH = "(a folder on the workbench server)"


def hide_paths(value: Any) -> Any:
    """The value with server file paths replaced, for those who may not see the server's folders (viewers)."""
    if isinstance(value, str):
        return _PATH.sub(HIDDEN_PATH, value)
    if isinstance(value, dict):
        return {k: hide_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_paths(v) for v in value]
    return value


def table(models: list[ModelInfo], *, show_paths: bool = True) -> None:
    made = derived_by_base(models)
    tables.show([
        {
            "Name": m.name, "Kind": registry.KIND_LABELS.get(m.kind, m.kind), "Task": m.task,
            "Architecture": m.architecture or "", "Parameters": tables.human_count(m.parameters),
            "Size": tables.human_size(m.size_bytes), "Context length": m.context_length,
            "Chat template": "yes" if m.has_chat_template else "no",
            "Price per 1k tokens (in / out)": _price(m),
            "Came from": m.source if show_paths else hide_paths(m.source), "Made from it": ", ".join(made.get(m.name, [])),
            "Registered": m.created_at.strftime("%Y-%m-%d %H:%M"), "By": m.created_by,
        }
        for m in models
    ])


def details(model: ModelInfo, derived: list[ModelInfo], *, show_paths: bool = True) -> None:
    """`show_paths`: admins and data scientists see where a model lives on the server; viewers do not."""
    shown = (lambda value: value) if show_paths else hide_paths
    left, right = st.columns(2)
    with left:
        if show_paths:
            st.markdown("**Where it lives**")
            st.code(model.path or model.info.get("base_url") or "(remote)", language="text")
        st.markdown("**Where it came from**")
        st.text(shown(model.source) + (f"\nBase model: {model.base_model}" if model.base_model else ""))
        st.markdown("**What was made from it**")
        st.text("\n".join(f"{m.name} ({registry.KIND_LABELS.get(m.kind, m.kind)})" for m in derived) or "Nothing yet.")
    with right:
        st.markdown("**Configuration**")
        st.json(shown(model.info), expanded=True)


REMOVING = "models.removing"  # the name whose removal the dialog asks about


def _forget_removal() -> None:
    st.session_state.pop(REMOVING, None)


@st.dialog("Remove a model", on_dismiss=_forget_removal)
def _confirm_remove(store: Store, actor: Actor, name: str) -> None:
    st.markdown(f"Remove **{inert(name)}** from the registry?")
    st.caption("A folder the workbench made for it (hub download, GGUF conversion) is deleted; "
               "your own folders are left where they are.")
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="models.remove.cancel", width="stretch"):
        _forget_removal()
        st.rerun()
    if c1.button("Remove", type="primary", key="models.remove.confirm", width="stretch"):
        with errors.shown_to_user():
            removed = sources.remove_model(store, actor=actor, name=name)
            _forget_removal()
            st.session_state["models.notice"] = f"Removed {removed.name}." + (
                " Its model-store folder was deleted." if removed.deleted_folder else "")
            st.rerun()


def actions(store: Store, actor: Actor, model: ModelInfo, derived: list[ModelInfo]) -> None:
    """Remove, price and (for endpoints) check the connection: for those who manage models."""
    c1, c2, _ = st.columns([1, 1, 3])
    blocked = ("it is bundled with the workbench" if model.kind == "bundled" else
               "adapters are built on it; remove them first" if derived else None)
    if c1.button("Remove...", key="models.remove", disabled=blocked is not None,
                 help=f"Cannot be removed: {blocked}." if blocked else None):
        st.session_state[REMOVING] = model.name
    if st.session_state.get(REMOVING) == model.name:
        _confirm_remove(store, actor, model.name)
    if model.kind == "openai" and c2.button("Check connection", key="models.check"):
        with errors.shown_to_user(), st.spinner("Asking the endpoint for its models..."):
            check = sources.check_endpoint(store, actor=actor, name=model.name, secrets=_secrets())
            (st.success if check.model_served else st.warning)(inert(check.message))
    with st.form("models.price", border=False):
        p1, p2, p3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        price_in = p1.number_input("USD per 1k input tokens", min_value=0.0, value=model.price_per_1k_input,
                                   format="%.6f", key=f"models.price_in.{model.name}")
        price_out = p2.number_input("USD per 1k output tokens", min_value=0.0, value=model.price_per_1k_output,
                                    format="%.6f", key=f"models.price_out.{model.name}")
        if p3.form_submit_button("Save price"):
            with errors.shown_to_user():
                sources.set_price(store, actor=actor, name=model.name, input_per_1k=price_in, output_per_1k=price_out)
                st.session_state["models.notice"] = f"Saved the price of {model.name}."
                st.rerun()


def _secrets():
    """Streamlit's secrets when the app has any, so an endpoint key can live there; None otherwise."""
    try:
        return dict(st.secrets)
    except Exception:  # noqa: BLE001 - no secrets.toml is the usual case
        return None


def register_form(store: Store, actor: Actor, models: list[ModelInfo]) -> None:
    kind = st.selectbox("Kind", list(KINDS), format_func=KINDS.get, key="models.register.kind")
    with st.form("models.register"):
        name = st.text_input("Name", key="models.register.name",
                             help="Letters, digits, dots, dashes and underscores (up to 128).")
        fields = {}
        if kind == "hf_local":
            fields["path"] = st.text_input("Folder on the workbench server", help="Holds config.json, *.safetensors "
                                           "and the tokenizer; it is used where it is, never copied or deleted.")
        elif kind == "hf_hub":
            fields["repo_id"] = st.text_input("Repository id", placeholder="HuggingFaceTB/SmolLM2-360M-Instruct")
            fields["revision"] = st.text_input("Revision (optional)", help="Branch, tag or commit; default main.")
        elif kind == "gguf":
            fields["path"] = st.text_input("GGUF file on the workbench server",
                                           help="Converted once to safetensors in the model store.")
        elif kind == "openai":
            fields["base_url"] = st.text_input("Base URL", placeholder="http://localhost:8000/v1")
            fields["model"] = st.text_input("Model name the server serves", placeholder="gpt-4o-mini")
            fields["api_key_env"] = st.text_input(
                "API key: name of the environment variable or secret (optional)", placeholder="OPENAI_API_KEY",
                help="Only this name is stored; the key is read from the environment or .streamlit/secrets.toml.")
            c1, c2 = st.columns(2)
            fields["price_per_1k_input"] = c1.number_input("USD per 1k input tokens", min_value=0.0, format="%.6f")
            fields["price_per_1k_output"] = c2.number_input("USD per 1k output tokens", min_value=0.0, format="%.6f")
        else:
            fields["path"] = st.text_input("Adapter folder on the workbench server",
                                           help="Holds adapter_config.json and adapter_model.safetensors.")
            bases = [m.name for m in models if m.is_local]
            fields["base_model"] = st.selectbox("Base model", bases, help="The registered model it was trained on.")
        submitted = st.form_submit_button("Register", type="primary")
    if not submitted:
        return
    add = {"hf_local": sources.add_local_folder, "hf_hub": sources.add_hub_model, "gguf": sources.add_gguf,
           "openai": sources.add_endpoint, "adapter": sources.add_adapter}[kind]
    wait = {"hf_hub": "Downloading from the Hugging Face hub...", "gguf": "Converting the GGUF file (once)..."}
    with errors.shown_to_user(), st.spinner(wait.get(kind, "Checking...")):
        model = add(store, actor=actor, name=name.strip(), **fields)
        st.session_state["models.notice"] = f"Registered {model.name} from {model.source}."
        st.rerun()
