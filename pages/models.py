"""Models: every registered model, where it lives, what it is."""
import streamlit as st

from core.governance.roles import Permission
from core.models import registry
from workbench import auth, services
from workbench.ui import errors, tables

actor = auth.require_page(Permission.VIEW_MODELS)
store = services.store()

st.header("Models")
st.caption("Every model the workbench can run. Bundled models work offline; CLI: `workbench models list`.")

with errors.shown_to_user():
    models = registry.list_models(store, actor=actor)
    if not models:
        st.info("No model is registered yet. Run `workbench init` to install the bundled models.")
        st.stop()
    tables.show([
        {
            "Name": m.name, "Kind": registry.KIND_LABELS.get(m.kind, m.kind), "Task": m.task,
            "Architecture": m.architecture or "", "Parameters": tables.human_count(m.parameters),
            "Size": tables.human_size(m.size_bytes), "Context length": m.context_length,
            "Chat template": "yes" if m.has_chat_template else "no",
            "Registered": m.created_at.strftime("%Y-%m-%d %H:%M"), "By": m.created_by,
        }
        for m in models
    ])

    name = st.selectbox("Details of", [m.name for m in models], key="models.selected")
    model = registry.get_model(store, actor=actor, name=name)
    left, right = st.columns(2)
    with left:
        st.markdown("**Where it lives**")
        st.code(model.path or "(remote)", language="text")
        st.markdown("**Where it came from**")
        st.text(model.source)
    with right:
        st.markdown("**Configuration**")
        st.json(model.info, expanded=True)
