"""Models: every registered model, where it came from, what was made from it; registering and removing them."""
import streamlit as st

from core.governance.roles import Permission
from core.models import registry
from workbench import auth, services
from workbench.ui import deployments_view, errors, models_view
from workbench.ui.text import inert

actor = auth.require_page(Permission.VIEW_MODELS)
store = services.store()
can_manage = actor.can(Permission.MANAGE_MODELS)
show_paths = can_manage  # admins and data scientists; viewers see no server file paths

st.header("Models")
st.caption("Every model the workbench can run. Bundled models work offline; CLI: `workbench models list`, "
           "`workbench models add`.")
if notice := st.session_state.pop("models.notice", None):
    st.success(inert(notice))

models = []
with errors.shown_to_user():
    models = registry.list_models(store, actor=actor)
    if not models:
        st.info("No model is registered yet. Run `workbench init` to install the bundled models.")
    else:
        models_view.table(models, show_paths=show_paths)
        name = st.selectbox("Details of", [m.name for m in models], key="models.selected")
        model = registry.get_model(store, actor=actor, name=name)
        derived = registry.derived_models(store, actor=actor, name=name)
        models_view.details(model, derived, show_paths=show_paths)
        from workbench.ui import model_card_view

        model_card_view.show(store, actor, model.name)
        if can_manage:
            models_view.actions(store, actor, model, derived)

with errors.shown_to_user():
    deployments_view.show_deployments(store, actor)

if can_manage:
    st.subheader("Register a model")
    models_view.register_form(store, actor, models)
