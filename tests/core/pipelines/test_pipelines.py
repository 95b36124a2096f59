"""Pipelines: a real two-model-step chain on the bundled model, save-time checks, permissions, runs and exports."""
import csv
import io
import json

import pandas as pd
import pytest

from core import pipelines
from core.data import versions
from core.errors import InvalidInput, NotFound, PermissionDenied, Unavailable
from core.governance.audit import AuditFilter, list_events
from core.governance.roles import SYSTEM, Actor, Role
from core.inference import engines
from core.inference.generate import GenerationSettings
from core.metrics import score_pairs
from core.models.bundled import DEFAULT_CHAT_MODEL as CHAT
from core.pipelines.demo import DEMO_PIPELINE, seed_pipeline
from core.prompts import templates

DANA = Actor("dana", Role.DATA_SCIENTIST)
ANN = Actor("ann", Role.ANNOTATOR)
VIC = Actor("vic", Role.VIEWER)

TEXTS = [
    "The invoice for March lists the wrong company name and VAT number, so our accounts team cannot book it. "
    "Please send a corrected invoice.",
    None,  # a missing cell: the row is skipped with a reason, the others go on
    "Since the last update the mobile app crashes right after the splash screen on my phone. I reinstalled it twice.",
]


def _chain(**overrides):
    steps = [
        {"name": "summary", "kind": "generate", "template": "summarise@1", "model": CHAT,
         "inputs": {"text": "column:text"}},
        {"name": "difficulty", "kind": "generate", "template": "rate@1", "model": CHAT,
         "inputs": {"summary": "step:summary"}, "numeric": True, "settings": {"max_new_tokens": 6}},
        {"name": "readability", "kind": "metric", "metric": "readability", "output": "step:summary"},
    ]
    for index, changes in overrides.items():
        steps[int(index[1:])] = {**steps[int(index[1:])], **changes}
    return steps


@pytest.fixture
def ready(models_store):
    """Two templates and a three-row dataset in a store with the bundled model."""
    store = models_store
    templates.save_version(store, actor=SYSTEM, name="summarise", body="Summarise in one short sentence:\n\n{{ text }}")
    templates.save_version(store, actor=SYSTEM, name="rate", system="You rate texts with one digit.",
                           body="How hard is this text to read, from 1 (easy) to 5 (hard)?\n\n{{ summary }}")
    frame = pd.DataFrame({"text": TEXTS, "reference": ["a corrected invoice", "x", "the app crashes"],
                          "id": ["=1+2", "b", "c"]})
    versions.save_version(store, actor=SYSTEM, name="notes", frame=frame, transformation="import", source="test")
    return store


def _spy(monkeypatch):
    calls = []
    real = engines.complete_chats

    def recording(store, **kwargs):
        calls.append(kwargs)
        return real(store, **kwargs)

    monkeypatch.setattr(engines, "complete_chats", recording)
    return calls


@pytest.mark.slow
def test_a_summary_feeds_a_rating_and_a_metric_side_by_side(ready, monkeypatch):
    store = ready
    calls = _spy(monkeypatch)
    saved, created = pipelines.save_pipeline(store, actor=DANA, name="summarise-rate", steps=_chain(),
                                             description="demo chain")
    assert created and [s.name for s in saved.steps] == ["summary", "difficulty", "readability"]
    seen = []
    run = pipelines.run_pipeline(store, actor=DANA, name="summarise-rate", dataset_version="notes@1", rows=3,
                                 settings=GenerationSettings(max_new_tokens=16),
                                 progress=lambda share, message: seen.append((share, message)))
    assert run.status == "succeeded" and run.error is None and run.rows == 3
    assert run.dataset_version == "notes@1" and run.created_by == "dana"

    # One batched model call per generate step, holding every row that has its inputs.
    assert [call["model"] for call in calls] == [CHAT, CHAT]
    assert len(calls[0]["conversations"]) == 2 and len(calls[1]["conversations"]) == 2
    assert calls[0]["settings"].max_new_tokens == 16 and calls[1]["settings"].max_new_tokens == 6
    frame = pipelines.outputs_frame(run)
    summaries = frame["summary"].tolist()
    assert summaries[0] and summaries[2] and pd.isna(summaries[1])
    # The second step's prompt holds the first step's answer for the same row.
    sent = [conversation[-1]["content"] for conversation in calls[1]["conversations"]]
    assert summaries[0] in sent[0] and summaries[2] in sent[1]
    assert calls[1]["conversations"][0][0] == {"role": "system", "content": "You rate texts with one digit."}
    # The stored prompt view rebuilds exactly what was sent.
    assert pipelines.step_prompt(store, actor=DANA, run=run, row_index=2, step_name="difficulty") == \
        calls[1]["conversations"][1]

    # The metric step equals core.metrics on the same text.
    expected = score_pairs([summaries[0], summaries[2]], None, ["readability"])["readability"]
    assert frame["readability"][0] == pytest.approx(expected[0]) and frame["readability"][2] == pytest.approx(expected[1])
    figures = run.step_figures("readability")
    present = [v for v in expected if v is not None]
    assert figures["mean_value"] == pytest.approx(sum(present) / len(present)) and figures["errors"] == 1

    # The missing cell is explained in every step that needed it.
    assert frame["summary error"][1] == "Skipped: the row has no value in column 'text'."
    assert frame["difficulty error"][1] == "Skipped: step 'summary' failed on this row."
    assert pd.isna(frame["readability"][1])

    summary = run.step_figures("summary")
    outs = [o for o in run.outputs if o.step_name == "summary" and o.output]
    assert summary["answered"] == 2 and summary["tokens_out"] == sum(o.tokens_out for o in outs)
    assert 0 < summary["mean_tokens_out"] <= 16 and summary["tokens_per_s"] > 0 and summary["latency_s"] > 0
    assert "mean_value" in run.step_figures("difficulty")
    assert seen[-1] == (1.0, "Done") and all(0 <= share <= 1 for share, _ in seen)
    assert run.settings["templates"]["summary"] == {"requested": "summarise@1", "ran": "summarise@1"}

    [listed] = pipelines.list_runs(store, actor=DANA, name="summarise-rate")
    assert listed.id == run.id and listed.summary == run.summary
    [event] = list_events(store, actor=SYSTEM, filters=AuditFilter(action="pipeline.run"))
    assert event.actor == "dana" and event.after["dataset_version"] == "notes@1"


def _metric_only(column="text"):
    return [{"name": "words", "kind": "metric", "metric": "length_words", "output": f"column:{column}"}]


@pytest.mark.parametrize("steps,message", [
    ([], "needs at least one step"),
    (_chain(s1={"name": "summary"}), "Two steps are named 'summary'"),
    (_chain(s1={"inputs": {"summary": "step:summry"}}), "reads step 'summry', which is not in this pipeline"),
    ([_chain()[1], _chain()[0]], "reads step 'summary', which runs after it; move 'summary' before 'difficulty'"),
    (_chain(s2={"metric": "fluency"}), "uses metric 'fluency', which is not registered"),
    (_chain(s2={"metric": "bleu"}), "compares with a reference"),
    (_chain(s0={"model": "gpt-17"}), "Step 'summary' uses model 'gpt-17': There is no model named 'gpt-17'"),
    (_chain(s0={"model": "minilm-l6-v2"}), "is an embedding model, not a chat model"),
    (_chain(s0={"template": "nothing@1"}), "Step 'summary' uses template 'nothing@1'"),
    (_chain(s0={"template": "summarise@9"}), "has no version 9"),
    (_chain(s0={"inputs": {}}), "template summarise@1 needs the variable 'text', which no input fills"),
    (_chain(s0={"inputs": {"text": "column:text", "tone": "column:x"}}), "maps the variable 'tone', which template"),
    (_chain(s0={"inputs": {"text": "text"}}), "is not a source: write column:NAME"),
    (_chain(s0={"temperature": 0.5}), "Step 1 has the unknown field 'temperature'"),
    (_chain(s0={"settings": {"max_new_tokens": 0}}), "Step 'summary': Max new tokens must be between 1 and 8192."),
    (_chain(s0={"settings": {"beams": 4}}), "sets 'beams', which is not a generation setting"),
    (_chain(s2={"model": CHAT}), "is a metric step, so it takes no model"),
    ([{"name": "2nd", "kind": "metric"}], "'2nd' is not a valid step name"),
    ([{"name": "x", "kind": "classify"}], "a step is either generate or metric"),
])
def test_a_definition_that_fails_a_check_is_one_sentence_and_stores_nothing(ready, steps, message):
    with pytest.raises(InvalidInput) as caught:
        pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=steps)
    assert message in str(caught.value)
    assert pipelines.count_pipelines(ready) == 0
    assert not list_events(ready, actor=SYSTEM, filters=AuditFilter(action="pipeline."))


def test_saving_again_updates_with_before_and_after_and_identical_steps_change_nothing(ready):
    pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_chain())
    same, changed = pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_chain())
    assert not changed
    updated, changed = pipelines.save_pipeline(ready, actor=SYSTEM, name="chain", steps=_chain()[:1] + _metric_only(),
                                               description="shorter")
    assert changed and [s.name for s in updated.steps] == ["summary", "words"] and updated.updated_by == "system"
    events = list_events(ready, actor=SYSTEM, filters=AuditFilter(action="pipeline."))
    assert [e.action for e in events] == ["pipeline.update", "pipeline.create"]
    assert [s["name"] for s in events[0].before["steps"]] == ["summary", "difficulty", "readability"]
    assert events[0].after["description"] == "shorter"
    assert [p.name for p in pipelines.list_pipelines(ready, actor=DANA)] == ["chain"]
    assert pipelines.get_pipeline(ready, actor=DANA, name="chain").steps_json == \
        [pipelines.Step.from_dict(s).to_dict() for s in _chain()[:1] + _metric_only()]


def test_roles(ready):
    with pytest.raises(PermissionDenied, match="not authorised to save prompt templates and pipelines"):
        pipelines.save_pipeline(ready, actor=VIC, name="chain", steps=_metric_only())
    pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_metric_only())
    for actor in (ANN, VIC):
        with pytest.raises(PermissionDenied):
            pipelines.list_pipelines(ready, actor=actor)
        with pytest.raises(PermissionDenied):
            pipelines.run_pipeline(ready, actor=actor, name="chain", dataset_version="notes@1", rows=1)
        with pytest.raises(PermissionDenied):
            pipelines.delete_pipeline(ready, actor=actor, name="chain")
    run = pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes", rows=2)
    with pytest.raises(PermissionDenied):
        pipelines.get_run(ready, actor=ANN, run_id=run.id)
    assert pipelines.count_pipelines(ready) == 1


def test_metric_steps_run_without_a_model_and_export_safely(ready):
    pipelines.save_pipeline(ready, actor=DANA, name="lengths", steps=[
        *_metric_only(), {"name": "match", "kind": "metric", "metric": "exact_match", "output": "column:id",
                          "reference": "column:id"}])
    run = pipelines.run_pipeline(ready, actor=DANA, name="lengths", dataset_version="notes@1", rows=500)
    assert run.rows == 3 and run.status == "succeeded"
    frame = pipelines.outputs_frame(run, inputs=pipelines.run_inputs(ready, actor=DANA, run=run))
    assert list(frame.columns) == ["row", "text", "id", "words", "words error", "match"]
    assert frame["words"].tolist()[0] == len(TEXTS[0].split()) and frame["match"].tolist() == [1.0, 1.0, 1.0]
    assert run.step_figures("match")["mean_value"] == 1.0

    inputs = pipelines.run_inputs(ready, actor=DANA, run=run)
    content = pipelines.export_run(run, "csv", inputs=inputs).decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert rows[0]["id"] == "'=1+2"  # a spreadsheet would run =1+2
    assert rows[1]["words error"].startswith("Skipped") and rows[1]["words"] == ""
    lines = [json.loads(line) for line in pipelines.export_run(run, "jsonl", inputs=inputs).decode().splitlines()]
    assert len(lines) == 3 and lines[0]["inputs"]["id"] == "=1+2"  # JSON keeps the text exact
    assert lines[0]["steps"]["words"]["value"] == len(TEXTS[0].split()) and lines[0]["run"] == run.id
    with pytest.raises(InvalidInput, match="choose csv or jsonl"):
        pipelines.export_run(run, "xlsx")


def test_run_checks_come_before_anything_is_stored(ready):
    pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_metric_only(column="body"))
    with pytest.raises(InvalidInput, match="reads column 'body', which dataset version notes@1 does not have"):
        pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes@1", rows=3)
    for rows in (0, 501, "3"):
        with pytest.raises(InvalidInput, match="from 1 to 500"):
            pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes@1", rows=rows)
    with pytest.raises(NotFound):
        pipelines.run_pipeline(ready, actor=DANA, name="missing", dataset_version="notes@1", rows=3)
    with pytest.raises(NotFound):
        pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes@7", rows=3)
    assert pipelines.list_runs(ready, actor=DANA) == []


def test_a_failing_model_marks_its_cells_and_the_run_and_later_steps_skip(ready, monkeypatch):
    def down(store, **kwargs):
        raise Unavailable("The endpoint at http://10.0.0.9/v1 does not answer.")

    monkeypatch.setattr(engines, "complete_chats", down)
    pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_chain())
    run = pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes@1", rows=3)
    assert run.status == "failed" and "Step 'summary' failed: The endpoint" in run.error
    frame = pipelines.outputs_frame(run)
    assert frame["summary error"][0] == "The model failed: The endpoint at http://10.0.0.9/v1 does not answer."
    assert frame["readability error"].tolist()[0] == "Skipped: step 'summary' failed on this row."
    assert run.step_figures("summary")["errors"] == 3


def test_a_run_stopped_midway_is_marked_so(ready):
    pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_metric_only())

    def stop(share, message):
        raise KeyboardInterrupt  # what a Ctrl-C, or Streamlit stopping a rerun page, looks like from inside

    with pytest.raises(KeyboardInterrupt):
        pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes@1", rows=2, progress=stop)
    [run] = pipelines.list_runs(ready, actor=DANA)
    assert (run.status, run.error) == ("failed", "Stopped before it finished.")


@pytest.mark.parametrize("answer,value", [("Difficulty: 4", 4.0), ("-2.5 points", -2.5), ("Very easy.", None)])
def test_numeric_steps_read_the_first_number(answer, value):
    from core.pipelines.runs import _first_number

    assert _first_number(answer) == value


def test_deleting_removes_the_runs_and_is_audited(ready):
    pipelines.save_pipeline(ready, actor=DANA, name="chain", steps=_metric_only())
    run = pipelines.run_pipeline(ready, actor=DANA, name="chain", dataset_version="notes@1", rows=2)
    removed = pipelines.delete_pipeline(ready, actor=DANA, name="chain")
    assert removed.runs == 1
    with pytest.raises(NotFound):
        pipelines.get_run(ready, actor=DANA, run_id=run.id)
    with pytest.raises(NotFound):
        pipelines.get_pipeline(ready, actor=DANA, name="chain")
    [event] = list_events(ready, actor=SYSTEM, filters=AuditFilter(action="pipeline.delete"))
    assert event.before["runs"] == 1 and event.before["steps"][0]["name"] == "words"


def test_the_demo_pipeline_is_saved_once_over_the_demo_templates(models_store):
    for body in ("Summarise: {{ body }}", "Summarise in one sentence.\n\nSubject: {{ subject }}\nTicket: {{ body }}"):
        latest, _ = templates.save_version(models_store, actor=SYSTEM, name="ticket-summary", body=body)
    templates.set_label(models_store, actor=SYSTEM, ref=latest.ref, label="production")
    assert seed_pipeline(models_store, actor=SYSTEM) == [DEMO_PIPELINE]
    assert seed_pipeline(models_store, actor=SYSTEM) == []
    demo = pipelines.get_pipeline(models_store, actor=SYSTEM, name=DEMO_PIPELINE)
    assert [s.name for s in demo.steps] == ["summary", "difficulty", "readability", "words"]
    assert demo.steps[0].template == "ticket-summary@2"
    assert demo.steps[0].inputs == {"body": "column:body", "subject": "column:subject"}
    assert demo.steps[1].inputs == {"summary": "step:summary"} and demo.steps[1].numeric


def test_the_demo_pipeline_waits_for_its_template(store):
    assert seed_pipeline(store, actor=SYSTEM) == []
    assert pipelines.count_pipelines(store) == 0


@pytest.mark.postgres
def test_definitions_runs_and_deletion_on_both_databases(any_store):
    frame = pd.DataFrame({"text": ["One two three.", None, "Four five."]})
    versions.save_version(any_store, actor=SYSTEM, name="notes", frame=frame, transformation="import", source="test")
    pipelines.save_pipeline(any_store, actor=SYSTEM, name="chain", steps=_metric_only())
    pipelines.save_pipeline(any_store, actor=SYSTEM, name="chain", steps=_metric_only(), description="again")
    run = pipelines.run_pipeline(any_store, actor=SYSTEM, name="chain", dataset_version="notes@1", rows=3)
    again = pipelines.get_run(any_store, actor=SYSTEM, run_id=run.id)
    assert [o.value for o in again.outputs] == [3.0, None, 2.0] and again.created_at.tzinfo is not None
    assert again.summary["steps"]["words"]["mean_value"] == 2.5
    assert pipelines.list_pipelines(any_store, actor=SYSTEM)[0].runs == 1
    pipelines.delete_pipeline(any_store, actor=SYSTEM, name="chain")
    assert pipelines.list_runs(any_store, actor=SYSTEM) == []
