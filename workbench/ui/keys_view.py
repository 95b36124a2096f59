"""The Admin page's API keys tab: keys for `workbench serve`, shown once when made, listed without the key."""
from __future__ import annotations

import streamlit as st

from core.governance.roles import Actor
from core.models import registry
from core.serving import deployments, keys
from core.storage.db import Store
from workbench.ui import errors, tables
from workbench.ui.text import inert


def show_keys(store: Store, actor: Actor) -> None:
    st.caption("Applications call `workbench serve` with these keys; a key's name is the application recorded on "
               "its events. CLI: `workbench keys add|list|revoke`.")
    if flash := st.session_state.pop("admin.keys_flash", None):
        st.success(flash)
    if made := st.session_state.pop("admin.new_key", None):
        st.success(f"API key {inert(made['name'])} made. Copy it now: it is not stored and will not be shown again.")
        st.code(made["key"], language=None)
    found = keys.list_keys(store, actor=actor)
    if found:
        tables.show([{"Name": k.name, "Key": k.prefix + "...", "Scopes": ", ".join(k.scopes),
                      "Models": ", ".join(k.models) if k.models else "all",
                      "Rate limit": f"{k.rate_limit_per_min}/min" if k.rate_limit_per_min else "none",
                      "Made by": k.created_by, "Made": k.created_at.strftime("%Y-%m-%d %H:%M"),
                      "Status": "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"} for k in found])
    else:
        st.info("No API key yet.")
    add_col, revoke_col = st.columns(2)
    with add_col, st.form("admin.add_key", clear_on_submit=True):
        st.subheader("Add a key")
        name = st.text_input("Application name", help="Letters, digits, dots, dashes and underscores.")
        scopes = st.multiselect("Scopes", list(keys.SCOPES), default=list(keys.DEFAULT_SCOPES))
        choices = [d.name for d in deployments.list_deployments(store, actor=actor)] + \
            [m.name for m in registry.list_models(store, actor=actor)]
        models = st.multiselect("Only these models and deployments (empty: all)", choices)
        rate = st.number_input("Requests a minute (0: no limit)", min_value=0, value=0, step=10)
        if st.form_submit_button("Add key", type="primary"):
            with errors.shown_to_user():
                info, key = keys.create_key(store, actor=actor, name=name, scopes=scopes, models=models or None,
                                            rate_limit=rate or None)
                st.session_state["admin.new_key"] = {"name": info.name, "key": key}
                st.rerun()
    with revoke_col:
        st.subheader("Revoke a key")
        active = [k.name for k in found if k.active]
        if not active:
            st.caption("No active key.")
            return
        target = st.selectbox("Key", active, key="admin.revoke_key")
        if st.button("Revoke", key="admin.revoke_button", help="The server refuses the key from the next request on."):
            with errors.shown_to_user():
                keys.revoke_key(store, actor=actor, name=target)
                st.session_state["admin.keys_flash"] = f"Revoked the API key {inert(target)}."
                st.rerun()
