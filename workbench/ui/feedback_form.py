"""The data scientists' form for a new annotation project: source, questions, annotators, guidelines.

With "Two models answer now" the form submits an `annotate` job (core/feedback/jobs.py) and follows it in a
fragment (progress per answer, Cancel); the project appears when the job ends, and reopening the page finds a
running job again."""
from __future__ import annotations

from datetime import datetime, time, timezone

import streamlit as st

from core.feedback import projects, sources
from core.feedback.schema import KINDS, parse_question
from core.governance.roles import Actor, Permission

DEFAULT_QUESTIONS = {"pairs": "better:pairwise", "single": "helpfulness:likert\ncorrect:thumbs\nideal:text"}


def create_form(store, actor: Actor) -> None:
    from core.feedback import jobs

    running = jobs.active_job(store, actor=actor)
    if running is not None:
        st.session_state["feedback.new.job"] = running.id
    if "feedback.new.job" in st.session_state:
        watch(store, actor, st.session_state["feedback.new.job"])
        return
    kind = st.radio("Outputs from", ["comparison", "dataset", "events", "generate"], horizontal=True,
                    key="feedback.new.kind",
                    format_func={"comparison": "A saved comparison run", "dataset": "A dataset version",
                                 "events": "Logged production traffic",
                                 "generate": "Two models answer now (a job)"}.get)
    if kind == "generate":
        _generate_form(store, actor)
        return
    source, pairs = _source_inputs(store, actor, kind)
    if source is None:
        return
    with st.form("feedback.new.form"):
        fields = _project_fields(store, actor, pairs)
        go = st.form_submit_button("Create project", type="primary")
    if go:
        project = projects.create_project(store, actor=actor, source=source, **fields)
        st.session_state["feedback.notice"] = f"Created {project.name} with {project.items} items."
        st.session_state["feedback.open"] = project.name
        st.rerun()


def _project_fields(store, actor: Actor, pairs: bool) -> dict:
    """Name, questions, annotators and guidelines (inside the caller's form), as create_project's arguments."""
    name = st.text_input("Project name", placeholder="ticket-replies-round-1", key="feedback.new.name")
    spec = st.text_area("Questions, one per line (NAME:KIND)", value=DEFAULT_QUESTIONS["pairs" if pairs else "single"],
                        help=f"Kinds: {', '.join(KINDS)}. likert=7 for a 7-point scale; tags=a,b,c for labels.",
                        key="feedback.new.questions")
    people = projects.list_annotators(store, actor=actor)
    chosen = st.multiselect("Annotators", people, default=people[:3], key="feedback.new.annotators")
    left, right = st.columns(2)
    per_item = left.number_input("Annotators per item", 1, 20, min(2, max(1, len(chosen))), key="feedback.new.k")
    overlap = right.number_input("Or: share of items rated by two (0 = use per item)", 0.0, 1.0, 0.0, 0.05,
                                 key="feedback.new.overlap")
    guidelines = st.text_area("Guidelines (Markdown)", placeholder="What makes a good answer ...",
                              key="feedback.new.guidelines")
    markdown = st.checkbox("Show outputs as sanitised Markdown (no HTML, links or images)", key="feedback.new.md")
    return {"name": name, "questions": [parse_question(line) for line in spec.splitlines() if line.strip()],
            "annotators": chosen, "per_item": int(per_item) if not overlap else 1, "overlap": overlap or None,
            "guidelines": guidelines or None, "allow_markdown": markdown}


def _generate_form(store, actor: Actor) -> None:
    """Two registered models answer a seeded sample of a dataset's prompts in a job; the project follows."""
    from core.data import versions
    from core.feedback import jobs
    from core.inference.generate import GenerationSettings
    from core.models import registry
    from core.prompts import templates

    models = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
    datasets = versions.list_datasets(store, actor=actor)
    if len(models) < 2 or not datasets:
        st.caption("Needs two registered chat models or adapters (Models page) and a dataset version with prompts "
                   "(Data page).")
        return
    chosen = st.multiselect("The two models (their names stay hidden from annotators)", models,
                            default=models[:2], max_selections=2, key="feedback.gen.models")
    dataset = st.selectbox("Dataset", [d.name for d in datasets], key="feedback.gen.dataset")
    version = versions.get_version(store, actor=actor, ref=dataset)
    use_template = st.toggle("Fill a prompt version with the row's columns (instead of a prompt column)",
                             key="feedback.gen.use_template")
    prompt_column = prompt = None
    if use_template:
        refs = [f"{t.name}@{t.latest}" for t in templates.list_templates(store, actor=actor)]
        if not refs:
            st.caption("No prompt template yet (Prompts page).")
            return
        prompt = st.selectbox("Prompt version (its variables read the columns of the same name)", refs,
                              key="feedback.gen.prompt")
    else:
        prompt_column = st.selectbox("Prompt column", version.column_names, key="feedback.gen.column")
    left, middle, right = st.columns(3)
    rows = left.number_input("Prompts to sample", 1, 500, min(20, version.rows), key="feedback.gen.rows")
    seed = middle.number_input("Seed", 0, 2**31 - 1, 0, key="feedback.gen.seed")
    tokens = right.number_input("Max new tokens", 1, 8192, 128, key="feedback.gen.max_new_tokens")
    temperature = st.slider("Temperature (0 = greedy)", 0.0, 2.0, 0.0, 0.05, key="feedback.gen.temperature")
    with st.form("feedback.gen.form"):
        fields = _project_fields(store, actor, pairs=True)
        go = st.form_submit_button("Generate and create the project", type="primary")
    if go:
        request = jobs.GenerateRequest(
            name=fields["name"], models=tuple(chosen), dataset_version=version.ref,
            questions=tuple(fields["questions"]), annotators=tuple(fields["annotators"]),
            prompt_column=prompt_column, prompt=prompt, rows=int(rows), seed=int(seed),
            settings=GenerationSettings(max_new_tokens=int(tokens), temperature=float(temperature), seed=int(seed)),
            per_item=fields["per_item"], overlap=fields["overlap"], guidelines=fields["guidelines"],
            allow_markdown=fields["allow_markdown"])
        job = jobs.submit(store, actor=actor, request=request)
        st.session_state["feedback.new.job"] = job.id
        st.rerun()


@st.fragment(run_every=2)
def watch(store, actor: Actor, job_id: int) -> None:
    """The annotate job: answers made so far, Cancel; once it ends, the project (or why there is none)."""
    from core.jobs import actions, queue
    from workbench.ui.text import inert

    job = actions.get(store, actor=actor, job_id=job_id)
    progress = actions.progress(job)
    done = f"{progress.done}/{progress.total} answers" if progress.total else "starting"
    note = f" · {inert(progress.note)}" if progress.note else ""
    st.progress(progress.fraction, text=f"Job {job.id} {job.status}: {done}{note}")
    if job.status in queue.FINISHED:
        st.session_state.pop("feedback.new.job", None)
        result = job.result or {}
        if job.status == queue.SUCCEEDED:
            st.session_state["feedback.notice"] = (f"Created {result['annotation_project']} with {result['items']} "
                                                   f"items (job {job.id}, comparison run {result['comparison_run']}).")
            st.session_state["feedback.open"] = result["annotation_project"]
        else:
            st.session_state["feedback.problem"] = f"Job {job.id} {job.status}: {job.error or 'no reason given'}; " \
                                                   "no project was made."
        st.rerun(scope="app")
    st.caption("The two models are answering; the project appears here when they are done. You may close the tab.")
    if actions.can_cancel(job) and st.button("Cancel", key=f"feedback.gen.cancel.{job.id}"):
        actions.cancel(store, actor=actor, job_id=job.id)
        st.rerun(scope="app")


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
