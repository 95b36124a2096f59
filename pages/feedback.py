"""Feedback: annotation projects, their results (leaderboard, scores, agreement), review and exports.

Data scientists make projects, settle disagreements and export; viewers (managers) read the results only.
"""
import streamlit as st

from core.feedback import projects, results
from core.governance.roles import Permission
from workbench import auth, services
from workbench.ui import errors, feedback_form, feedback_view
from workbench.ui.text import inert

actor = auth.require_page(Permission.VIEW_DASHBOARDS)
store = services.store()
manage = feedback_view.can_manage(actor)

st.header("Human feedback")
st.caption("Annotation projects over comparison runs, datasets and production traffic; CLI: `workbench feedback`.")
if notice := st.session_state.pop("feedback.notice", None):
    st.success(inert(notice))
if problem := st.session_state.pop("feedback.problem", None):
    st.warning(inert(problem))

found = []
with errors.shown_to_user():
    found = projects.list_projects(store, actor=actor)

tabs = st.tabs(["Results", "Review", "Export", "New project"] if manage else ["Results"])
with tabs[0]:
    if not found:
        st.info("No annotation project yet." + (" Make one in **New project**." if manage else ""))
    else:
        labels = {p.name: f"{p.name} · {p.items} items · {p.ratings} ratings · {p.status}" for p in found}
        if (opened := st.session_state.pop("feedback.open", None)) in labels:
            st.session_state["feedback.project"] = opened  # a project just made (set before the widget exists)
        name = st.selectbox("Project", list(labels), format_func=labels.get, key="feedback.project")
        project = next(p for p in found if p.name == name)
        if manage:
            st.caption(f"Source: {inert(project.source)} · annotators: {inert(', '.join(project.annotators))}")
        by = st.segmented_control("Group by", list(results.BY), default="column", key="feedback.by",
                                  format_func={"column": "Model and prompt", "model": "Model",
                                               "prompt_version": "Prompt version"}.get) or "column"
        with errors.shown_to_user():
            feedback_view.results_view(feedback_view.cached_stats(store, actor, name, by))

if manage:
    chosen = next((p for p in found if p.name == st.session_state.get("feedback.project")), found[0] if found else None)
    with tabs[1]:
        if chosen is None:
            st.caption("No project to review.")
        else:
            st.caption(f"Project {inert(chosen.name)}")
            with errors.shown_to_user():
                feedback_view.review_view(store, actor, chosen)
    with tabs[2]:
        if chosen is None:
            st.caption("No project to export.")
        else:
            st.caption(f"Project {inert(chosen.name)}")
            with errors.shown_to_user():
                feedback_view.export_view(store, actor, chosen)
    with tabs[3]:
        with errors.shown_to_user():
            feedback_form.create_form(store, actor)
