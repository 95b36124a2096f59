"""Comparison runs: the grid made with the real bundled model and an OpenAI-compatible endpoint, its figures and
scores, summaries, exports, permissions, and requests that are refused before anything is stored."""
import csv
import dataclasses
import io
import json
import time

import pandas as pd
import pytest

from core.compare import demo, runs
from core.data import versions
from core.errors import InvalidInput, NotFound, PermissionDenied, Unavailable
from core.exports import restore_cell
from core.governance.audit import AuditFilter, list_events
from core.governance.roles import SYSTEM, Role
from core.inference import engines
from core.inference.generate import GenerationSettings
from core.metrics import score_pairs
from core.models import bundled, sources
from core.prompts import templates
from tests.core.models.helpers import SERVER_KEY, openai_server

CHAT = bundled.CHAT_MODEL.name
GREEDY16 = GenerationSettings(max_new_tokens=16)
TICKETS = pd.DataFrame({
    "title": ["Charged twice", "App crashes on start", "Export is empty"],
    "text": ["I was charged twice this month.", "The app crashes after the splash screen.",
             "The CSV export only has the header row."],
    "answer": ["We refunded the duplicate charge.", "Please update the app to the latest version.",
               "We fixed the export settings."],
})


def _templates(store):
    templates.save_version(store, actor=SYSTEM, name="summary", body="Summarise: {{ subject }}. {{ body }}")
    templates.save_version(store, actor=SYSTEM, name="summary", system="You are a terse support lead.",
                           body="In one sentence, what is the problem?\nSubject: {{ subject }}\n{{ body }}")


def _dataset(store, frame=TICKETS):
    version, _ = versions.save_version(store, actor=SYSTEM, name="tickets", frame=frame, transformation="import",
                                       source="tickets.csv")
    return version.ref


def _endpoint(store, url, name="remote", **price):
    return sources.add_endpoint(store, actor=SYSTEM, name=name, base_url=url, model="tiny-chat",
                                api_key_env="TEST_ENDPOINT_KEY", **price)


@pytest.fixture
def endpoint_key(monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)


def test_a_grid_over_dataset_rows_matches_direct_generation_scores_and_prices(models_store, people):
    store = models_store
    _templates(store)
    ref = _dataset(store)
    sources.set_price(store, actor=SYSTEM, name=CHAT, input_per_1k=0.5, output_per_1k=2.0)
    dan = people[Role.DATA_SCIENTIST].as_actor()
    seen = []
    started = time.perf_counter()
    run = runs.run_comparison(store, actor=dan, prompts=["summary@1", "summary"], models=[CHAT],
                              dataset_version=ref, rows=3, variable_map={"subject": "title", "body": "text"},
                              reference_column="answer", settings=GREEDY16, metrics=None, name="summaries",
                              progress=lambda done, total: seen.append((done, total)))
    ran_for = time.perf_counter() - started
    assert (run.status, run.name, run.prompts, run.models, run.rows) == \
        ("succeeded", "summaries", ["summary@1", "summary@2"], [CHAT], 3)
    assert run.dataset_version == "tickets@1" and run.reference_column == "answer" and run.finished_at
    assert run.settings["generation"]["max_new_tokens"] == 16 and run.settings["requested_prompts"] == ["summary@1", "summary"]
    assert run.settings["variable_map"] == {"subject": "title", "body": "text"}
    assert run.metrics == ["bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match", "length_words", "readability"]
    assert len(run.cells) == 6 and seen[-1] == (6, 6)
    assert [(c.row_index, c.prompt) for c in run.cells] == [(r, p) for r in range(3) for p in ("summary@1", "summary@2")]

    # The same conversations, in the order the run sends them, straight to the engine.
    v1, v2 = (templates.get_version(store, actor=SYSTEM, ref=f"summary@{n}") for n in (1, 2))
    conversations = [v.messages({"subject": r.title, "body": r.text}) for v in (v1, v2) for r in TICKETS.itertuples()]
    direct = engines.complete_chats(store, actor=SYSTEM, model=CHAT, conversations=conversations, settings=GREEDY16)
    by_key = {(c.prompt, c.row_index): c for c in run.cells}
    keys = [(p, r) for p in ("summary@1", "summary@2") for r in range(3)]
    assert [by_key[k].messages for k in keys] == conversations
    assert [by_key[k].output for k in keys] == [g.output for g in direct]
    assert [(by_key[k].tokens_in, by_key[k].tokens_out) for k in keys] == [(g.tokens_in, g.tokens_out) for g in direct]
    expected = score_pairs([g.output for g in direct], list(TICKETS.answer) * 2, run.metrics)
    for metric, values in expected.items():
        assert [by_key[k].scores[metric] for k in keys] == pytest.approx(values, nan_ok=True), metric
    for cell in run.cells:
        assert cell.reference == TICKETS.answer[cell.row_index]
        assert cell.variables == {"subject": TICKETS.title[cell.row_index], "body": TICKETS.text[cell.row_index]}
        assert cell.cost_usd == pytest.approx((cell.tokens_in * 0.5 + cell.tokens_out * 2.0) / 1000)
        assert cell.tokens_per_s == pytest.approx(cell.tokens_out / cell.latency_s)
        assert 0 < cell.tokens_out <= 16 and cell.finish_reason in ("stop", "length")

    timing = run.settings["model_timing"][CHAT]
    assert timing["answers"] == 6 and timing["tokens_out"] == sum(c.tokens_out for c in run.cells)
    # The six answers decode together: the model's generating time is the batch's, within the run's wall time,
    # not the sum of answers' overlapping latencies.
    assert 0 < timing["seconds"] <= timing["wall_seconds"] <= ran_for
    assert max(c.latency_s for c in run.cells) <= timing["seconds"] < sum(c.latency_s for c in run.cells)
    report = runs.summary(run)
    assert report.metric == "bleu"
    assert all(row["model_tokens_per_s"] == pytest.approx(timing["tokens_out"] / timing["seconds"]) for row in report.rows)
    table = {row["prompt"]: row for row in report.rows}
    for prompt, row in table.items():
        cells = [c for c in run.cells if c.prompt == prompt]
        assert row["cells"] == 3 and row["column"] == f"{prompt} · {CHAT}"
        assert row["chrf"] == pytest.approx(sum(c.scores["chrf"] for c in cells) / 3)
        assert row["cost_usd"] == pytest.approx(sum(c.cost_usd for c in cells))
        assert row["tokens_out"] == sum(c.tokens_out for c in cells)
    for metric in ("chrf", "length_words"):
        wins = runs.summary(run, metric=metric)
        better = max if metric == "chrf" else min
        expected_wins = {"summary@1": 0, "summary@2": 0}
        for r in range(3):
            a, b = by_key[("summary@1", r)].scores[metric], by_key[("summary@2", r)].scores[metric]
            if a != b:
                expected_wins["summary@1" if better(a, b) == a else "summary@2"] += 1
        assert {row["prompt"]: row["wins"] for row in wins.rows} == expected_wins
        assert all(row["wins"] + row["ties"] <= 3 for row in wins.rows)

    frame = runs.cells_frame(run)
    assert len(frame) == 6 and {"output", "tokens_per_s", "cost_usd", "bleu", "readability"} <= set(frame.columns)
    grid = runs.grid_frame(run)
    assert list(grid.columns) == ["row", "input", "reference", f"summary@1 · {CHAT}", f"summary@2 · {CHAT}"]
    assert list(grid[f"summary@2 · {CHAT}"]) == [by_key[("summary@2", r)].output for r in range(3)]

    reopened = runs.get_run(store, actor=dan, run_id=run.id)
    assert reopened == run
    assert [r.id for r in runs.list_runs(store, actor=dan)] == [run.id]
    assert runs.list_runs(store, actor=dan)[0].cell_count == 6
    [event] = list_events(store, actor=SYSTEM, filters=AuditFilter(action="comparison."))
    assert (event.action, event.actor, event.target_id) == ("comparison.run", "dan", str(run.id))
    assert event.after["prompts"] == ["summary@1", "summary@2"] and event.after["rows"] == 3


def test_typed_inputs_on_an_endpoint_model(store, endpoint_key):
    templates.save_version(store, actor=SYSTEM, name="ask", body="Q: {{ question }}")
    templates.save_version(store, actor=SYSTEM, name="ask", body="Answer briefly: {{ question }}")
    with openai_server() as url:
        _endpoint(store, url, price_per_1k_input=1.0, price_per_1k_output=2.0)
        run = runs.run_comparison(
            store, actor=SYSTEM, prompts=["ask@1", "ask@2"], models=["remote"],
            inputs=[{"question": "2+2?", "expected": "echo: Q: 2+2?"}, {"question": "Is the sky blue?", "expected": None}],
            reference_column="expected", settings=GenerationSettings(max_new_tokens=8),
            metrics=["exact_match", "length_words"])
    assert run.status == "succeeded" and run.dataset_version is None and run.rows == 2
    assert run.settings["input_mode"] == "typed"
    outputs = {(c.row_index, c.prompt): c for c in run.cells}
    assert outputs[(0, "ask@1")].output == "echo: Q: 2+2?"
    assert outputs[(1, "ask@2")].output == "echo: Answer briefly: Is the sky blue?"
    assert outputs[(0, "ask@1")].scores == {"exact_match": 1.0, "length_words": 3.0}
    assert outputs[(0, "ask@2")].scores["exact_match"] == 0.0
    assert outputs[(1, "ask@1")].reference is None and outputs[(1, "ask@1")].scores["exact_match"] is None
    assert all((c.tokens_in, c.tokens_out) == (5, 3) for c in run.cells)
    assert all(c.cost_usd == pytest.approx((5 * 1.0 + 3 * 2.0) / 1000) for c in run.cells)
    report = runs.summary(run)
    assert report.metric == "exact_match"
    assert {r["prompt"]: (r["wins"], r["ties"], r["exact_match"]) for r in report.rows} == \
        {"ask@1": (1, 0, 1.0), "ask@2": (0, 0, 0.0)}

    # Sort and filter rows by a score.
    by_length = runs.grid_frame(run, sort_metric="length_words", sort_column="ask@2 · remote")
    assert list(by_length["row"]) == [2, 1]
    matched = runs.grid_frame(run, filter_metric="exact_match", score_range=(1, 1))
    assert list(matched["row"]) == [1]
    with pytest.raises(InvalidInput, match="no 'bleu' scores"):
        runs.grid_frame(run, sort_metric="bleu")


def test_exports_are_formula_safe_csv_and_self_contained_jsonl(store, endpoint_key):
    templates.save_version(store, actor=SYSTEM, name="ask", body="{{ question }}")
    with openai_server() as url:
        _endpoint(store, url)
        run = runs.run_comparison(store, actor=SYSTEM, prompts=["ask"], models=["remote"],
                                  inputs=[{"question": "=1+1", "ref": "@SUM(A1)"}], reference_column="ref",
                                  settings=GenerationSettings(max_new_tokens=8, stop=("END",), seed=3))
    # An output a spreadsheet would run, as a model might write it.
    dangerous = dataclasses.replace(run, cells=tuple(dataclasses.replace(c, output="=HYPERLINK(\"http://x\")")
                                                     for c in run.cells))
    content, file_name = runs.export_bytes(store, actor=SYSTEM, run_id=run.id, fmt="csv")
    assert file_name == f"comparison-{run.id}.csv"
    [row] = list(csv.DictReader(io.StringIO(runs.export_run(dangerous, "csv").decode())))
    assert row["output"] == "'=HYPERLINK(\"http://x\")" and restore_cell(row["output"]) == "=HYPERLINK(\"http://x\")"
    assert row["reference"] == "'@SUM(A1)"
    assert json.loads(row["messages"]) == [{"role": "user", "content": "=1+1"}]
    assert {"bleu", "chrf", "exact_match", "readability"} <= set(row)
    [plain] = list(csv.DictReader(io.StringIO(content.decode())))
    assert plain["output"] == "echo: =1+1" and plain["cell_id"] == str(run.cells[0].id)

    lines = runs.export_run(run, "jsonl").decode().splitlines()
    [record] = [json.loads(line) for line in lines]
    cell = run.cells[0]
    assert {k: record[k] for k in ("run_id", "cell_id", "row_index", "prompt", "prompt_template", "prompt_version",
                                   "model", "output", "reference")} == \
        {"run_id": run.id, "cell_id": cell.id, "row_index": 0, "prompt": "ask@1", "prompt_template": "ask",
         "prompt_version": 1, "model": "remote", "output": "echo: =1+1", "reference": "@SUM(A1)"}
    assert record["messages"] == [{"role": "user", "content": "=1+1"}] and record["variables"] == {"question": "=1+1"}
    assert record["generation"]["stop"] == ["END"] and record["generation"]["seed"] == 3
    assert record["scores"] == cell.scores and record["format_version"] == 1
    with pytest.raises(InvalidInput, match="not an export format"):
        runs.export_run(run, "xlsx")
    assert [e.action for e in list_events(store, actor=SYSTEM, filters=AuditFilter(action="comparison."))] == \
        ["comparison.export", "comparison.run"]


@pytest.mark.parametrize("request_changes,error,message", [
    (dict(prompts=[]), InvalidInput, "at least one prompt"),
    (dict(models=[]), InvalidInput, "at least one chat model"),
    (dict(prompts=["nope@1"]), NotFound, "no prompt template named 'nope'"),
    (dict(prompts=["summary@9"]), NotFound, "has no version 9"),
    (dict(prompts=["summary@1", "summary@1"]), InvalidInput, "chosen twice"),
    (dict(prompts=["summary@2", "summary"]), InvalidInput, "same version, summary@2"),
    (dict(models=[bundled.EMBEDDING_MODEL.name]), InvalidInput, "not a chat model"),
    (dict(models=["ghost"]), NotFound, "no model named 'ghost'"),
    (dict(prompts=[f"p{i}@1" for i in range(7)], models=[f"m{i}" for i in range(6)]), InvalidInput, "at most 36"),
    (dict(variable_map={}), InvalidInput, "variables 'body', 'subject' have no column of the same name in tickets@1"),
    (dict(variable_map={"subject": "title", "body": "missing"}), InvalidInput, "mapped to 'missing', which is not"),
    (dict(variable_map={"subject": "title", "body": "text", "extra": "text"}), InvalidInput, "'extra' is not a variable"),
    (dict(reference_column="nothing"), InvalidInput, "reference column 'nothing' is not a column"),
    (dict(rows=0), InvalidInput, "between 1 and 500"),
    (dict(rows=501), InvalidInput, "between 1 and 500"),
    (dict(inputs=[{"subject": "a", "body": "b"}]), InvalidInput, "not both and not neither"),
    (dict(dataset_version=None), InvalidInput, "not both and not neither"),
    (dict(dataset_version="nothing@1"), NotFound, "no dataset named 'nothing'"),
    (dict(metrics=["nonsense"]), InvalidInput, "Unknown metric 'nonsense'"),
    (dict(reference_column=None, metrics=["bleu"]), InvalidInput, "BLEU needs a reference"),
    (dict(dataset_version=None, inputs=[{"subject": "a"}], variable_map=None, rows=None), InvalidInput,
     "summary@1 needs a value for 'body'"),
    (dict(dataset_version=None, inputs=[], variable_map=None, rows=None), InvalidInput, "at least one input"),
    (dict(dataset_version=None, inputs=[{"subject": "a", "body": "b"}], variable_map=None, rows=3), InvalidInput,
     "applies to a dataset version"),
])
def test_a_bad_request_is_one_sentence_and_stores_nothing(models_store, request_changes, error, message):
    _templates(models_store)
    request = dict(prompts=["summary@1", "summary@2"], models=[CHAT], dataset_version=_dataset(models_store), rows=2,
                   variable_map={"subject": "title", "body": "text"}, reference_column="answer", settings=GREEDY16)
    request.update(request_changes)
    with pytest.raises(error, match=message):
        runs.run_comparison(models_store, actor=SYSTEM, **request)
    assert runs.count_runs(models_store) == 0
    assert not list_events(models_store, actor=SYSTEM, filters=AuditFilter(action="comparison."))


def test_a_template_failing_on_one_row_stores_nothing(store, endpoint_key):
    templates.save_version(store, actor=SYSTEM, name="div", body="{{ 10 // n }}")
    with openai_server() as url:
        _endpoint(store, url)
        with pytest.raises(InvalidInput, match="div@1 on row 2: .*could not be rendered"):
            runs.run_comparison(store, actor=SYSTEM, prompts=["div"], models=["remote"],
                                inputs=[{"n": 2}, {"n": 0}], settings=GREEDY16)
    assert runs.count_runs(store) == 0


def test_annotators_and_viewers_may_neither_run_nor_read_runs(store, people, endpoint_key):
    templates.save_version(store, actor=SYSTEM, name="ask", body="{{ q }}")
    with openai_server() as url:
        _endpoint(store, url)
        run = runs.run_comparison(store, actor=SYSTEM, prompts=["ask"], models=["remote"], inputs=[{"q": "hi"}])
        for role in (Role.ANNOTATOR, Role.VIEWER):
            actor = people[role].as_actor()
            with pytest.raises(PermissionDenied, match="not authorised to run models"):
                runs.run_comparison(store, actor=actor, prompts=["ask"], models=["remote"], inputs=[{"q": "x"}])
            for read in (lambda a: runs.list_runs(store, actor=a), lambda a: runs.get_run(store, actor=a, run_id=run.id),
                         lambda a: runs.export_bytes(store, actor=a, run_id=run.id, fmt="jsonl"),
                         lambda a: runs.delete_run(store, actor=a, run_id=run.id)):
                with pytest.raises(PermissionDenied):
                    read(actor)
    assert runs.count_runs(store) == 1


def test_a_model_that_fails_leaves_a_failed_run_with_its_error(store, endpoint_key):
    templates.save_version(store, actor=SYSTEM, name="ask", body="{{ q }}")
    with openai_server() as url:
        _endpoint(store, url, name="up")
        _endpoint(store, "http://127.0.0.1:9/v1", name="down")  # nothing listens on the discard port
        with pytest.raises(Unavailable, match="cannot be reached"):
            runs.run_comparison(store, actor=SYSTEM, prompts=["ask"], models=["up", "down"], inputs=[{"q": "hi"}])
    [run] = runs.list_runs(store, actor=SYSTEM)
    assert run.status == "failed" and "cannot be reached" in run.error and run.finished_at
    reopened = runs.get_run(store, actor=SYSTEM, run_id=run.id)
    assert [(c.model, c.output) for c in reopened.cells] == [("up", "echo: hi")], "cells made before the failure stay"
    assert [e.action for e in list_events(store, actor=SYSTEM, filters=AuditFilter(action="comparison."))] == \
        ["comparison.fail", "comparison.run"]


def test_runs_are_deleted_by_their_creator_or_an_admin(store, people, endpoint_key):
    templates.save_version(store, actor=SYSTEM, name="ask", body="{{ q }}")
    dan, ada = people[Role.DATA_SCIENTIST].as_actor(), people[Role.ADMIN].as_actor()
    with openai_server() as url:
        _endpoint(store, url)
        mine = runs.run_comparison(store, actor=dan, prompts=["ask"], models=["remote"], inputs=[{"q": "a"}])
        theirs = runs.run_comparison(store, actor=ada, prompts=["ask"], models=["remote"], inputs=[{"q": "b"}])
    with pytest.raises(PermissionDenied, match="belongs to ada"):
        runs.delete_run(store, actor=dan, run_id=theirs.id)
    runs.delete_run(store, actor=dan, run_id=mine.id)
    runs.delete_run(store, actor=ada, run_id=f"#{theirs.id}")
    assert runs.count_runs(store) == 0
    with pytest.raises(NotFound, match=f"no comparison run {mine.id}"):
        runs.get_run(store, actor=dan, run_id=mine.id)
    with pytest.raises(InvalidInput, match="not a comparison run id"):
        runs.get_run(store, actor=dan, run_id="latest")
    assert list_events(store, actor=SYSTEM, filters=AuditFilter(action="comparison.delete"))[0].actor == "ada"


def test_word_diff_marks_deleted_and_inserted_words():
    segments = runs.word_diff("The quick brown fox jumps.", "The quick red fox  jumps high.")
    assert segments == [("equal", "The quick"), ("delete", " brown"), ("insert", " red"), ("equal", " fox"),
                        ("delete", " jumps."), ("insert", "  jumps high.")]
    assert "".join(t for op, t in segments if op != "insert") == "The quick brown fox jumps."
    assert runs.word_diff("same words", "same words") == [("equal", "same words")]
    assert runs.word_diff("", "new") == [("insert", "new")]
    assert runs.word_diff(None, None) == []
    html = runs.word_diff("<b>x</b>", "<script>alert(1)</script>")
    assert html == [("delete", "<b>x</b>"), ("insert", "<script>alert(1)</script>")]


def test_the_demo_comparison_is_seeded_once(models_store):
    from core import demo as app_demo

    app_demo.seed_datasets(models_store, actor=SYSTEM)
    if not any(t.name == "ticket-reply" for t in templates.list_templates(models_store, actor=SYSTEM)):
        templates.save_version(models_store, actor=SYSTEM, name="ticket-reply", body="Reply to: {{ body }}")
        templates.save_version(models_store, actor=SYSTEM, name="ticket-reply",
                               body="Reply in one sentence to this {{ priority }} ticket: {{ subject }}. {{ body }}")
    if not any(t.name == "ticket-summary" for t in templates.list_templates(models_store, actor=SYSTEM)):
        templates.save_version(models_store, actor=SYSTEM, name="ticket-summary", body="Summarise: {{ body }}")
        templates.save_version(models_store, actor=SYSTEM, name="ticket-summary", body="One line: {{ subject }}")
    run = demo.seed_comparison(models_store, actor=SYSTEM)
    assert run.status == "succeeded" and run.rows == 4 and run.dataset_version == "support-tickets@1"
    assert run.prompts == ["ticket-reply@1", "ticket-reply@2"] and run.reference_column == "agent_reply"
    assert len(run.cells) == 8 and all(c.output for c in run.cells)
    assert run.generation["max_new_tokens"] == demo.DEMO_MAX_NEW_TOKENS
    assert demo.seed_comparison(models_store, actor=SYSTEM) is None
    assert runs.count_runs(models_store) == 1
