"""Human feedback screens: the annotator's rating card (keyboard-first, in a fragment), the home summary, and the
data scientists' and viewers' results, review and export views."""
from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from core.feedback import exports, projects, ratings, results
from core.feedback.schema import SIDES, Question
from core.errors import WorkbenchError
from core.governance.roles import Actor, Permission
from workbench.ui import errors, links
from workbench.ui.text import inert

LIKERT_KEYS = "123456789"


# --- untrusted text ---------------------------------------------------------------------------------------

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>]*)>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def sanitised_markdown(text: str) -> str:
    """Markdown without images, links, HTML or Streamlit directives: images and links keep their words only."""
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _AUTOLINK.sub(lambda m: m.group(1).replace(":", "\\:"), text)
    text = _TAG.sub(lambda m: m.group(0).replace("<", "&lt;").replace(">", "&gt;"), text)
    text = re.sub(r"https?://", lambda m: m.group(0).replace(":", "\\:"), text)  # no auto-linking
    return re.sub(r":([a-z]+)\[", r"\\:\1[", text)  # no :color[...] directives


def show_output(text: str, *, markdown: bool) -> None:
    """A model output as inert text (or sanitised Markdown when the project allows it)."""
    if markdown:
        st.markdown(sanitised_markdown(text))
    else:
        st.code(text or " ", language=None, wrap_lines=True)


def show_prompt(messages: list[dict]) -> None:
    for message in messages:
        role = str(message.get("role", "user"))
        st.caption(inert(role.capitalize()))
        st.code(str(message.get("content", "")) or " ", language=None, wrap_lines=True)


# --- the annotator's rating card --------------------------------------------------------------------------

def _state(name: str, default=None):
    return st.session_state.get(f"annotate.{name}", default)


def _set(name: str, value) -> None:
    st.session_state[f"annotate.{name}"] = value


def _open_item(item: ratings.QueueItem | None) -> None:
    _set("item", item.item_id if item else None)
    _set("answers", dict(item.answers) if item else {})
    _set("shown_at", time.monotonic())
    _set("criterion", 0)


def _seconds() -> float:
    return time.monotonic() - (_state("shown_at") or time.monotonic())


def _current(store, actor: Actor, project: str) -> ratings.QueueItem | None:
    item_id = _state("item")
    if item_id is not None:
        try:
            return ratings.get_item(store, actor=actor, project=project, item_id=item_id)
        except Exception:
            _set("item", None)
    item = ratings.next_item(store, actor=actor, project=project, after=_state("after"))
    _open_item(item)
    return item


def _submit(store, actor: Actor, project: str, item: ratings.QueueItem, answers: dict) -> None:
    ratings.submit(store, actor=actor, project=project, item_id=item.item_id, answers=answers, seconds=_seconds(),
                   note=st.session_state.get(f"annotate.note.{item.item_id}") or None)
    _set("after", item.position)
    _set("last", item.item_id)
    _open_item(ratings.next_item(store, actor=actor, project=project, after=item.position))


def _safely(action):
    """Button callbacks run before the card reruns; their errors are kept and shown in the card."""
    def run(*args):
        _set("error", None)
        try:
            action(*args)
        except WorkbenchError as exc:
            _set("error", exc.message)
    return run


def _collect(project: projects.ProjectInfo, item: ratings.QueueItem) -> dict:
    """The answers picked with buttons plus what the text, tag and ranking widgets hold now."""
    answers = dict(_state("answers") or {})
    for question in project.questions:
        key = f"annotate.{question.name}.{item.item_id}"
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        if question.kind == "text":
            original = item.responses[0] if len(item.responses) == 1 else ""
            if value and value.strip() and value != original:
                answers[question.name] = value
            else:
                answers.pop(question.name, None)
        elif question.kind == "tags":
            answers[question.name] = list(value or [])
        elif question.kind == "ranking":
            if len(value or []) == len(item.responses):
                answers[question.name] = list(value)
            else:
                answers.pop(question.name, None)
    return answers


@_safely
def _on_pick(store, actor, project, item, name, value, one_key):
    answers = _collect(project, item)
    answers[name] = value
    _set("answers", answers)
    likert = [q.name for q in project.questions if q.kind == "likert"]
    if name in likert:
        _set("criterion", min(likert.index(name) + 1, len(likert) - 1))
    if one_key:
        _submit(store, actor, project.name, item, answers)


@_safely
def _on_submit(store, actor, project, item):
    _submit(store, actor, project.name, item, _collect(project, item))


@_safely
def _on_skip(store, actor, project, item):
    ratings.skip(store, actor=actor, project=project.name, item_id=item.item_id, seconds=_seconds())
    _set("after", item.position)
    _open_item(ratings.next_item(store, actor=actor, project=project.name, after=item.position))


@_safely
def _on_flag(store, actor, project, item):
    reason = st.session_state.get(f"annotate.flag_reason.{item.item_id}") or ""
    ratings.flag(store, actor=actor, project=project.name, item_id=item.item_id, note=reason, seconds=_seconds())
    _set("after", item.position)
    _open_item(ratings.next_item(store, actor=actor, project=project.name, after=item.position))


@_safely
def _on_back(store, actor, project, item_id, position):
    if item_id is None:
        previous = ratings.get_item(store, actor=actor, project=project.name, item_id=_state("last"))
    else:
        previous = ratings.previous_item(store, actor=actor, project=project.name, before=position)
    if previous is None:
        _set("error", "There is no earlier item.")
    else:
        _open_item(previous)


def rating_card(store, actor: Actor, project: projects.ProjectInfo) -> None:
    """One item at a time. A fragment: a key press reruns this card only, never the whole page."""

    @st.fragment
    def card():
        with errors.shown_to_user():
            _card(store, actor, project)

    card()


def _card(store, actor: Actor, project: projects.ProjectInfo) -> None:
    name = project.name
    progress = ratings.progress(store, actor=actor, project=name)
    share = progress.done / progress.total if progress.total else 0.0
    pace = f" · {progress.per_hour:.0f} items/h" if progress.per_hour else ""
    st.progress(share, text=f"{progress.done} of {progress.total} rated · streak {progress.streak}{pace}"
                            + (f" · {progress.skipped} skipped" if progress.skipped else ""))
    if message := _state("error"):
        st.error(inert(message))
        _set("error", None)
    item = _current(store, actor, name)
    if item is None:
        st.success("Your queue is empty: every item is rated. Thank you!")
        if _state("last") is not None:
            st.button("Back to my last item", key="annotate.back_last", shortcut="P",
                      on_click=_on_back, args=(store, actor, project, None, None))
        return
    answers: dict = _state("answers") or {}
    st.caption(f"Item {item.position + 1}" + (" · already rated: change it and submit again" if item.status == "done"
                                              else " · skipped before" if item.status == "skipped" else ""))
    with st.container(border=True):
        show_prompt(item.prompt)
    sides = st.columns(len(item.responses)) if len(item.responses) > 1 else [st.container()]
    for n, (column, text) in enumerate(zip(sides, item.responses)):
        with column:
            with st.container(border=True):
                st.markdown(f"**{SIDES[n]}**" if len(item.responses) > 1 else "**Response**")
                show_output(text, markdown=project.allow_markdown)

    one_key = len(project.questions) == 1 and project.questions[0].kind in ("pairwise", "thumbs")
    for question in project.questions:
        _question(question, item, answers, one_key=one_key, store=store, actor=actor, project=project)
    st.text_input("Comment (optional)", key=f"annotate.note.{item.item_id}", value=item.note or "")
    missing = [q.title for q in project.questions if q.required and q.name not in _collect(project, item)]
    left, middle, right, back = st.columns(4)
    with left:
        st.button("Submit", key=f"annotate.submit.{item.item_id}", type="primary", shortcut="Enter",
                  disabled=bool(missing), on_click=_on_submit, args=(store, actor, project, item),
                  help="Enter" + (f" · answer {', '.join(missing)} first" if missing else ""))
    with middle:
        st.button("Skip", key=f"annotate.skip.{item.item_id}", shortcut="S", help="S: rate it later",
                  on_click=_on_skip, args=(store, actor, project, item))
    with right:
        with st.popover("Flag", help="Broken, offensive or unclear: takes it out of your queue for a reviewer"):
            st.text_input("Why?", key=f"annotate.flag_reason.{item.item_id}")
            st.button("Flag this item", key=f"annotate.flag.{item.item_id}", on_click=_on_flag,
                      args=(store, actor, project, item))
    with back:
        st.button("Back", key=f"annotate.back.{item.item_id}", shortcut="P", help="P: the previous item",
                  on_click=_on_back, args=(store, actor, project, item.item_id, item.position))


def _question(question: Question, item: ratings.QueueItem, answers: dict, *, one_key: bool, store, actor: Actor,
              project: projects.ProjectInfo) -> None:
    key = f"annotate.{question.name}.{item.item_id}"
    chosen = answers.get(question.name)
    if question.kind == "thumbs":
        chosen = {1: "up", 0: "down"}.get(chosen, chosen)
    st.markdown(f"**{inert(question.title)}**" + (f" · {inert(question.help)}" if question.help else ""))

    def button(label, value, shortcut, **extra):
        st.button(label, key=f"{key}.{value}", shortcut=shortcut, width="stretch",
                  type="primary" if chosen == value else "secondary", help=f"Key {shortcut}" if shortcut else None,
                  on_click=_on_pick, args=(store, actor, project, item, question.name, value, one_key), **extra)

    if question.kind == "pairwise":
        for column, (label, value, shortcut) in zip(st.columns(3), [("A is better", "A", "A"), ("Tie", "tie", "T"),
                                                                    ("B is better", "B", "B")]):
            with column:
                button(label, value, shortcut)
    elif question.kind == "thumbs":
        for column, (label, value, shortcut, icon) in zip(st.columns(2), [
                ("Good", "up", "U", ":material/thumb_up:"), ("Bad", "down", "D", ":material/thumb_down:")]):
            with column:
                button(label, value, shortcut, icon=icon)
    elif question.kind == "likert":
        likert = [q.name for q in project.questions if q.kind == "likert"]
        active = likert.index(question.name) == (_state("criterion") or 0)
        for score, column in zip(range(1, question.scale + 1), st.columns(question.scale)):
            anchor = question.anchors.get(str(score), "")
            with column:
                button(f"{score}" + (f" · {anchor}" if anchor else ""), score,
                       LIKERT_KEYS[score - 1] if active and score <= 9 else None)
        if active and len(likert) > 1:
            st.caption("Number keys answer this criterion.")
    elif question.kind == "ranking":
        labels = list(SIDES[:len(item.responses)])
        st.multiselect("Click the outputs from best to worst", labels, default=chosen or [], key=key,
                       max_selections=len(labels))
    elif question.kind == "text":
        start = chosen if chosen is not None else (item.responses[0] if len(item.responses) == 1 else "")
        st.text_area("The ideal answer (edit the response; leave it unchanged for no correction)", value=start,
                     key=key, height=140)
    elif question.kind == "tags":
        st.pills(question.title, list(question.options), selection_mode="multi", default=chosen or [], key=key,
                 label_visibility="collapsed")


def annotator_page(store, actor: Actor) -> None:
    mine = ratings.my_projects(store, actor=actor)
    if not mine:
        st.info("Nothing to rate yet: a data scientist will send you model outputs to rate.")
        return
    names = [p.name for p, _ in mine]
    labels = {p.name: f"{p.name} · {pr.pending + pr.skipped} to rate" for p, pr in mine}
    wanted = st.query_params.get("project")
    if wanted in names and st.session_state.get("annotate.project") is None:
        st.session_state["annotate.project"] = wanted
    name = st.selectbox("Project", names, key="annotate.project", format_func=lambda n: labels[n])
    if _state("for_project") != name:
        _set("for_project", name)
        _set("item", None)
        _set("after", None)
        _set("last", None)
    project = next(p for p, _ in mine if p.name == name)
    keys = []
    if any(q.kind == "pairwise" for q in project.questions):
        keys.append("A / B / T choose")
    if any(q.kind == "likert" for q in project.questions):
        keys.append("number keys score")
    if any(q.kind == "thumbs" for q in project.questions):
        keys.append("U / D thumbs")
    st.caption("Keys: " + ", ".join(keys + ["Enter submits", "S skips", "P goes back"]) + ".")
    if project.guidelines:
        with st.expander("Guidelines", expanded=False):
            st.markdown(project.guidelines)
    rating_card(store, actor, project)


def queue_summary(store, actor: Actor) -> None:
    """The annotator's home: each project with items waiting, and a link to start rating."""
    with errors.shown_to_user():
        mine = ratings.my_projects(store, actor=actor)
        st.subheader("Your rating queue")
        if not mine:
            st.info("Nothing to rate yet: a data scientist will send you model outputs to rate.")
            return
        for project, progress in mine:
            with st.container(border=True):
                st.markdown(f"**{inert(project.name)}**" + (f" · {inert(project.description)}"
                                                            if project.description else ""))
                left = progress.pending + progress.skipped
                st.progress(progress.done / progress.total if progress.total else 0.0,
                            text=f"{progress.done} of {progress.total} rated · {left} waiting")
        links.page_link("annotate", "Start rating", ":material/rate_review:")


# --- results, review, export (data scientists; viewers read results) --------------------------------------

def _num(value, digits: int = 2):
    return None if value is None else round(float(value), digits)


STATS_MAX_AGE_S = 60.0


def cached_stats(store, actor: Actor, project: str, by: str) -> results.ProjectStats:
    """The project's statistics, computed again only when its ratings, reviews or queues changed (a cheap key
    read on each rerun): clicking in the Review, Export or New project tab no longer recomputes 1,000 bootstrap
    rounds over every rating. Kept per session, as each user may see other projects; at most a minute old (time
spent on items can change without a new rating)."""
    import time

    key = (project, by, results.stats_key(store, actor=actor, project=project))
    cached = st.session_state.get("feedback.stats")
    if cached is None or cached[0] != key or time.monotonic() - cached[2] > STATS_MAX_AGE_S:
        cached = (key, results.project_stats(store, actor=actor, project=project, by=by), time.monotonic())
        st.session_state["feedback.stats"] = cached
    return cached[1]


def results_view(stats: results.ProjectStats) -> None:
    from workbench.ui import charts

    project = stats.project
    top = st.columns(4)
    top[0].metric("Items", f"{stats.items:,}", border=True)
    top[1].metric("Ratings", f"{stats.ratings:,}", border=True)
    top[2].metric("Items finished", f"{stats.done_items:,}", border=True)
    top[3].metric("Disagreements", f"{stats.disagreements:,}", border=True)
    if stats.leaderboard:
        st.subheader("Leaderboard")
        st.caption("Bradley-Terry strengths from pairwise votes on the Elo scale, with 95% bootstrap intervals "
                   "(votes resampled 1,000 times); Elo replays the votes in time order.")
        board = pd.DataFrame([{"Rank": n + 1, "Model": s.model, "Score": round(s.score), "95% low": round(s.low),
                               "95% high": round(s.high), "Elo": round(s.elo), "Games": s.games,
                               "Win rate": _num(s.win_rate)} for n, s in enumerate(stats.leaderboard)])
        st.dataframe(board, hide_index=True, width="stretch")
        charts.feedback_leaderboard(board)
    if stats.scores:
        st.subheader("Scores")
        st.caption("Mean answer per model and prompt version with 95% bootstrap intervals (thumbs: share up).")
        frame = pd.DataFrame([{"Question": s.question, "Model / prompt": s.group, "Mean": _num(s.estimate.mean),
                               "95% low": _num(s.estimate.low), "95% high": _num(s.estimate.high),
                               "Ratings": s.estimate.n} for s in stats.scores])
        st.dataframe(frame, hide_index=True, width="stretch")
        charts.feedback_scores(frame)
    if stats.agreement:
        st.subheader("Agreement")
        st.caption("Krippendorff's alpha at each question's level of measurement (1 perfect, 0 chance); Cohen's "
                   "kappa when exactly two annotators shared items (linear weights for Likert).")
        st.dataframe(pd.DataFrame([{"Question": q, "Level": a.level, "Krippendorff's alpha": _num(a.krippendorff_alpha),
                                    "Cohen's kappa": _num(a.cohen_kappa), "All agree": _num(a.percent_agreement),
                                    "Shared items": a.items, "Answers": a.answers}
                                   for q, a in stats.agreement.items()]), hide_index=True, width="stretch")
    if stats.annotators:
        st.subheader("Annotators")
        st.caption("Agreement with the majority of the others spots a careless rater; time per item is the "
                   "median of the time each item was open.")
        st.dataframe(pd.DataFrame([{"Annotator": a.annotator, "Done": a.done, "Assigned": a.assigned,
                                    "Skipped": a.skipped, "Flagged": a.flagged,
                                    "Median s / item": _num(a.median_seconds, 1),
                                    "Items / hour": _num(a.items_per_hour, 0),
                                    "Agrees with majority": _num(a.agreement_with_majority),
                                    "Compared": a.compared} for a in stats.annotators]),
                     hide_index=True, width="stretch")
    if not (stats.leaderboard or stats.scores or stats.agreement):
        st.caption(f"No ratings in {inert(project.name)} yet.")


def review_view(store, actor: Actor, project: projects.ProjectInfo) -> None:
    found = results.disagreements(store, actor=actor, project=project.name)
    flags = results.flagged(store, actor=actor, project=project.name)
    if not found and not flags:
        st.caption("No disagreements and no flagged items.")
        return
    if found:
        st.caption("A is always the item's first response here (annotators saw their own shuffled order).")
        labels = {n: f"Item {d.item_id} · {d.question} · " + ", ".join(f"{k}: {v}" for k, v in d.answers.items())
                  + (f" · settled: {d.settled}" if d.settled is not None else "") for n, d in enumerate(found)}
        choice = st.selectbox("Disagreement", list(labels), format_func=lambda n: labels[n], key="feedback.review.pick")
        d = found[choice]
        show_prompt(d.prompt)
        for column, (n, response) in zip(st.columns(len(d.responses)), enumerate(d.responses)):
            with column:
                st.markdown(f"**{SIDES[n]}** · {inert(results.response_label(response))}")
                show_output(str(response.get("text") or ""), markdown=False)
        question = project.question(d.question)
        if question.kind == "pairwise":
            options = ["A", "B", "tie"]
        elif question.kind == "likert":
            options = [str(n) for n in range(1, question.scale + 1)]
        else:
            options = ["up", "down"]
        with st.form(f"feedback.review.form.{d.item_id}.{d.question}"):
            value = st.radio("Final answer", options, horizontal=True)
            note = st.text_input("Note")
            if st.form_submit_button("Settle", type="primary"):
                results.settle(store, actor=actor, project=project.name, item_id=d.item_id, question=d.question,
                               value=value, note=note or None)
                st.success(f"Settled item {d.item_id}.")
    if flags:
        st.markdown("**Flagged items**")
        st.dataframe(pd.DataFrame([{"Item": f["item"], "Annotator": f["annotator"], "Reason": f["note"]}
                                   for f in flags]), hide_index=True, width="stretch")


def export_view(store, actor: Actor, project: projects.ProjectInfo) -> None:
    with st.form("feedback.export.form"):
        fmt = st.radio("Format", exports.FORMATS, horizontal=True, format_func={
            "sft": "SFT conversations (messages)", "dpo": "Preference pairs (prompt, chosen, rejected)",
            "csv": "CSV, one row per rating"}.get)
        left, right = st.columns(2)
        min_score = left.number_input("SFT: lowest consensus Likert score", 1.0, 10.0, exports.DEFAULT_MIN_SCORE, 0.5)
        margin = right.number_input("Preferences: smallest Likert difference", 0.5, 9.0, exports.DEFAULT_MARGIN, 0.5)
        dataset = st.text_input("Save as dataset", value="", placeholder=f"{project.name}-FORMAT")
        go = st.form_submit_button("Export", type="primary")
    if go:
        result = exports.export(store, actor=actor, project=project.name, fmt=fmt, dataset=dataset.strip() or None,
                                min_score=min_score, margin=margin)
        st.success(f"Saved {result.rows} rows as dataset version {inert(result.dataset_version)}.")
        data = results.load(store, actor=actor, project=project.name)
        frame = exports.export_frame(data, fmt, min_score=min_score, margin=margin)
        st.download_button("Download", exports.to_bytes(frame, fmt), file_name=f"{project.name}-{fmt}."
                           + ("csv" if fmt == "csv" else "jsonl"), key="feedback.export.download")
        links.page_link("data", "Open it on the Data page", ":material/dataset:")


def can_manage(actor: Actor) -> bool:
    return actor.can(Permission.MANAGE_FEEDBACK)
