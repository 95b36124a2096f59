"""The data scientists' form for a new annotation project: source, questions, annotators, guidelines."""
from __future__ import annotations

from datetime import datetime, time, timezone

import streamlit as st

from core.feedback import projects, sources
from core.feedback.schema import KINDS, parse_question
from core.governance.roles import Actor, Permission

DEFAULT_QUESTIONS = {"pairs": "better:pairwise", "single": "helpfulness:likert\ncorrect:thumbs\nideal:text"}


def create_form(store, actor: Actor) -> None:
    kind = st.radio("Outputs from", ["comparison", "dataset", "events"], horizontal=True, key="feedback.new.kind",
                    format_func={"comparison": "A saved comparison run", "dataset": "A dataset version",
                                 "events": "Logged production traffic"}.get)
    source, pairs = _source_inputs(store, actor, kind)
    if source is None:
        return
    with st.form("feedback.new.form"):
        name = st.text_input("Project name", placeholder="ticket-replies-round-1")
        spec = st.text_area("Questions, one per line (NAME:KIND)", value=DEFAULT_QUESTIONS["pairs" if pairs else
                                                                                           "single"],
                            help=f"Kinds: {', '.join(KINDS)}. likert=7 for a 7-point scale; tags=a,b,c for labels.")
        people = projects.list_annotators(store, actor=actor)
        chosen = st.multiselect("Annotators", people, default=people[:3])
        left, right = st.columns(2)
        per_item = left.number_input("Annotators per item", 1, 20, min(2, max(1, len(chosen))))
        overlap = right.number_input("Or: share of items rated by two (0 = use per item)", 0.0, 1.0, 0.0, 0.05)
        guidelines = st.text_area("Guidelines (Markdown)", placeholder="What makes a good answer ...")
        markdown = st.checkbox("Show outputs as sanitised Markdown (no HTML, links or images)")
        go = st.form_submit_button("Create project", type="primary")
    if go:
        questions = [parse_question(line) for line in spec.splitlines() if line.strip()]
        project = projects.create_project(store, actor=actor, name=name, source=source, questions=questions,
                                          annotators=chosen, per_item=int(per_item) if not overlap else 1,
                                          overlap=overlap or None, guidelines=guidelines or None,
                                          allow_markdown=markdown)
        st.session_state["feedback.notice"] = f"Created {project.name} with {project.items} items."
        st.session_state["feedback.project"] = project.name
        st.rerun()


def _source_inputs(store, actor: Actor, kind: str):
    if kind == "comparison":
        from core.compare import runs

        found = [r for r in runs.list_runs(store, actor=actor) if r.cell_count]
        if not found:
            st.caption("No saved comparison run with outputs yet (Compare page).")
            return None, False
        run = st.selectbox("Run", found, format_func=lambda r: r.label, key="feedback.new.run")
        pairs = st.toggle("Pairs of outputs for the same input (pairwise)", key="feedback.new.pairs",
                          value=len(run.columns) >= 2)
        return sources.ComparisonSource(run_id=run.id, pairs=pairs), pairs
    if kind == "dataset":
        from core.data import versions

        datasets = versions.list_datasets(store, actor=actor)
        if not datasets:
            st.caption("No dataset yet (Data page).")
            return None, False
        dataset = st.selectbox("Dataset", [d.name for d in datasets], key="feedback.new.dataset")
        version = versions.get_version(store, actor=actor, ref=dataset)
        columns = version.column_names
        messages = "messages" in columns and st.toggle("Rate the last answer of the chat `messages`",
                                                       value=True, key="feedback.new.messages")
        rows = st.number_input("Rows to sample (0 = all)", 0, 100_000, 50, key="feedback.new.rows")
        if messages:
            return sources.DatasetSource(ref=version.ref, messages_column="messages", rows=rows or None), False
        prompt = st.selectbox("Prompt column", columns, key="feedback.new.prompt")
        answers = st.multiselect("Response column(s): two for pairwise", columns, key="feedback.new.responses",
                                 max_selections=8)
        if not answers:
            st.caption("Pick at least one response column.")
            return None, False
        return sources.DatasetSource(ref=version.ref, prompt_column=prompt, response_columns=tuple(answers),
                                     rows=rows or None), len(answers) == 2
    if not actor.can(Permission.VIEW_DASHBOARDS):
        return None, False
    left, right = st.columns(2)
    since = left.date_input("From", value=None, key="feedback.new.since")
    until = right.date_input("Until (exclusive)", value=None, key="feedback.new.until")
    deployment = st.text_input("Deployment (optional)", key="feedback.new.deployment")
    limit = st.number_input("Events to sample", 1, 10_000, 50, key="feedback.new.limit")
    stratify = st.text_input("Sample evenly over (model, arm, deployment or a metadata key)", key="feedback.new.strat")
    return sources.EventSource(
        since=datetime.combine(since, time(), tzinfo=timezone.utc) if since else None,
        until=datetime.combine(until, time(), tzinfo=timezone.utc) if until else None,
        deployment=deployment.strip() or None, limit=int(limit), stratify=stratify.strip() or None), False
