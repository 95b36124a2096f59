"""The Compare page under AppTest: a run over typed input with the bundled model and an endpoint, a run over
dataset rows, reopening saved runs, inert rendering of hostile outputs, empty states and roles."""
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.compare import runs
from core.data import versions
from core.governance import logins
from core.governance.roles import SYSTEM
from core.jobs import actions
from core.models import bundled, sources
from core.prompts import templates
from tests.conftest import PASSWORD
from tests.core.models.helpers import SERVER_KEY, openai_server
from workbench.navigation import PAGES_DIR
from workbench.ui.text import inert

PAGE = str(PAGES_DIR / "compare.py")
CHAT = bundled.CHAT_MODEL.name


def _open(store, name: str = "dan") -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _run_job(app: AppTest, store) -> None:
    """Presses Run, checks a second run cannot start meanwhile, waits for the job's real worker process, reopens."""
    app.button(key="compare.run").click().run()
    assert not app.exception and not app.error, _texts(app)
    job_id = app.session_state["compare.job_id"]
    assert app.button(key="compare.run").disabled, "a second click must not start a second run"
    assert app.text_input(key="compare.name").value == ""
    done = actions.wait(store, actor=SYSTEM, job_id=job_id, timeout_s=600, poll_s=0.3)
    assert done.status == "succeeded", (done.error, actions.logs(store, actor=SYSTEM, job_id=job_id)[-3000:])
    app.run()


def _texts(app: AppTest) -> list[str]:
    return [str(e.value) for kind in ("error", "warning", "info", "success") for e in getattr(app, kind)]


@pytest.fixture
def remote(store, monkeypatch):
    """An OpenAI-compatible endpoint on loopback that answers 'echo: <the last message>', registered as `remote`."""
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY", price_per_1k_input=1.0, price_per_1k_output=2.0)
        yield "remote"


def _ask_templates(store):
    templates.save_version(store, actor=SYSTEM, name="ask", body="Q: {{ question }}")
    templates.save_version(store, actor=SYSTEM, name="ask", body="Answer in one word: {{ question }}")
    templates.set_label(store, actor=SYSTEM, ref="ask@2", label="production")


def test_a_data_scientist_compares_two_prompts_on_two_models_over_typed_input(models_store, people, remote):
    _ask_templates(models_store)
    app = _open(models_store)
    assert not app.exception and not app.error, _texts(app)
    prompts = app.multiselect(key="compare.prompts")
    assert prompts.options == ["ask@2 (production)", "ask@1"]
    prompts.set_value(["ask@1", "ask@2"])
    app.multiselect(key="compare.models").set_value([CHAT, "remote"]).run()
    app.text_area(key="compare.var.question").input("What is the capital of France?")
    app.text_input(key="compare.reference_text").input("Paris")
    app.number_input(key="compare.gen.max_new_tokens").set_value(8).run()
    assert "Generation settings (greedy, 8 new tokens)" in [e.label for e in app.expander]
    app.text_input(key="compare.name").input("capitals")
    _run_job(app, models_store)
    assert not app.exception and not app.error, _texts(app)
    [run] = runs.list_runs(models_store, actor=SYSTEM)
    assert any(s.value.startswith(f"Saved run {run.id}") for s in app.success)
    assert run.created_by == "dan" and run.generation["max_new_tokens"] == 8 and run.generation["temperature"] == 0.0
    assert run.reference_column == "reference" and "bleu" in run.metrics
    saved = runs.get_run(models_store, actor=SYSTEM, run_id=run.id)
    assert len(saved.cells) == 4 and all(c.reference == "Paris" for c in saved.cells)

    frames = [d.value for d in app.dataframe]
    summary = next(f for f in frames if "wins" in f.columns)
    assert list(summary["column"]) == [f"ask@1 · {CHAT}", "ask@1 · remote", f"ask@2 · {CHAT}", "ask@2 · remote"]
    grid = next(f for f in frames if "ask@1 · remote" in f.columns and "input" in f.columns)
    assert grid["ask@1 · remote"].tolist() == ["echo: Q: What is the capital of France?"]
    assert grid[f"ask@2 · {CHAT}"].tolist() == [next(c.output for c in saved.cells
                                                     if (c.prompt, c.model) == ("ask@2", CHAT))]
    assert len(app.get("plotly_chart")) == 1
    assert [b.label for b in app.get("download_button")] == ["Download CSV", "Download JSONL"]


def test_a_run_over_dataset_rows_with_a_mapping_and_reference(store, people, remote):
    _ask_templates(store)
    frame = pd.DataFrame({"q": ["2+2?", "Sky?", "Grass?"], "a": ["echo: Q: 2+2?", "blue", "green"]})
    versions.save_version(store, actor=SYSTEM, name="quiz", frame=frame, transformation="import", source="quiz.csv")
    app = _open(store)
    app.multiselect(key="compare.prompts").set_value(["ask@1"])
    app.multiselect(key="compare.models").set_value(["remote"])
    app.radio(key="compare.mode").set_value("Dataset rows").run()
    app.number_input(key="compare.rows.quiz@1.rows").set_value(2)
    app.selectbox(key="compare.map.quiz@1.question").set_value("q")
    app.selectbox(key="compare.reference.quiz@1").set_value("a").run()
    assert app.multiselect(key="compare.metrics.True").value[:2] == ["bleu", "chrf"]
    _run_job(app, store)
    assert not app.exception and not app.error, _texts(app)
    [run] = runs.list_runs(store, actor=SYSTEM)
    assert (run.dataset_version, run.rows, run.reference_column) == ("quiz@1", 2, "a")
    assert run.settings["variable_map"] == {"question": "q"}
    grid = next(d.value for d in app.dataframe if "reference" in d.value.columns)
    assert grid["ask@1 · remote"].tolist() == ["echo: Q: 2+2?", "echo: Q: Sky?"]

    # Sort by exact match, worst first; then keep only rows with an exact match.
    app.selectbox(key=f"compare.sort_metric.{run.id}").set_value("exact_match")
    app.toggle(key=f"compare.sort_desc.{run.id}").set_value(False).run()
    grid = next(d.value for d in app.dataframe if "reference" in d.value.columns)
    assert grid["row"].tolist() == [2, 1]
    app.selectbox(key=f"compare.filter_metric.{run.id}").set_value("exact_match").run()
    app.slider(key=f"compare.filter_range.{run.id}.exact_match").set_value((0.5, 1.0)).run()
    assert not app.exception
    grid = next(d.value for d in app.dataframe if "reference" in d.value.columns)
    assert grid["row"].tolist() == [1]


def test_saved_runs_reopen_with_their_grid_and_diff(store, people, remote):
    _ask_templates(store)
    first = runs.run_comparison(store, actor=SYSTEM, prompts=["ask@1", "ask@2"], models=["remote"],
                                inputs=[{"question": "first question"}], name="the first")
    runs.run_comparison(store, actor=SYSTEM, prompts=["ask@1"], models=["remote"],
                        inputs=[{"question": "second"}], name="the second")
    app = _open(store)
    assert app.selectbox(key="compare.selected_run").value != first.id, "the newest run opens first"
    app.selectbox(key="compare.selected_run").set_value(first.id).run()
    assert not app.exception and not app.error, _texts(app)
    assert any(f"Run {first.id}" in c.value for c in app.caption)
    grid = next(d.value for d in app.dataframe if "input" in d.value.columns)
    assert grid["ask@2 · remote"].tolist() == ["echo: Answer in one word: first question"]
    texts = [t.value for t in app.text]
    assert "echo: Q: first question" in texts and "echo: Answer in one word: first question" in texts
    changes = next(d.value for d in app.dataframe if "Change" in d.value.columns)
    assert changes.to_dict("records") == [{"Change": "only in A", "Words": "Q:"},
                                          {"Change": "only in B", "Words": "Answer in one word:"}]


def test_hostile_outputs_render_as_inert_text(store, people, remote):
    hostile = "<script>alert(1)</script> ![x](http://evil.example/x.png) **bold** [link](http://evil.example)"
    templates.save_version(store, actor=SYSTEM, name="echo", body="{{ text }}")
    templates.save_version(store, actor=SYSTEM, name="echo", body="Say: {{ text }}")
    app = _open(store)
    app.multiselect(key="compare.prompts").set_value(["echo@1", "echo@2"])
    app.multiselect(key="compare.models").set_value(["remote"]).run()
    app.text_area(key="compare.var.text").input(hostile)
    app.text_input(key="compare.name").input("<img src=x onerror=alert(1)> run")
    _run_job(app, store)
    assert not app.exception and not app.error, _texts(app)
    grid = next(d.value for d in app.dataframe if "input" in d.value.columns)
    assert grid["echo@1 · remote"].tolist() == [f"echo: {hostile}"]
    assert f"echo: {hostile}" in [t.value for t in app.text]
    markdown = [m for kind in ("markdown", "caption", "success", "error", "info") for m in getattr(app, kind)]
    for element in markdown:
        value = str(element.value)
        assert not re.search(r"(?<!\\)<", value), value  # every < is escaped, so no tag can form
        assert "](http" not in value and "**bold**" not in value
        assert not getattr(element.proto, "allow_html", False)
    diff = next(m.value for m in app.markdown if "~~" in m.value or "\\*\\*bold" in m.value)
    assert "\\<script\\>" in diff and "\\!\\[x\\]" in diff


def test_a_variable_left_empty_is_one_sentence_and_runs_nothing(store, people, remote):
    _ask_templates(store)
    app = _open(store)
    app.multiselect(key="compare.prompts").set_value(["ask@1"])
    app.multiselect(key="compare.models").set_value(["remote"]).run()
    app.text_area(key="compare.var.question").input("   ")
    app.button(key="compare.run").click().run()
    assert not app.exception
    assert [e.value for e in app.error] == [inert("ask@1 needs a value for 'question' in the input; type one for each "
                                                  "variable.")]
    assert runs.count_runs(store) == 0


def test_empty_states_say_what_to_do_next(store, people):
    app = _open(store)
    assert not app.exception
    assert any("No prompt template yet" in t and "Prompts page" in t for t in _texts(app))
    assert any("No comparison run yet" in t for t in _texts(app))
    templates.save_version(store, actor=SYSTEM, name="ask", body="{{ q }}")
    app = _open(store)
    assert any("No chat model is registered" in t for t in _texts(app))


def test_dataset_rows_by_sample_filter_and_number(store, people, remote):
    _ask_templates(store)
    frame = pd.DataFrame({"question": [f"q{n}" for n in range(1, 11)], "topic": ["tax", "sky"] * 5})
    versions.save_version(store, actor=SYSTEM, name="quiz", frame=frame, transformation="import", source="quiz.csv")
    app = _open(store)
    app.multiselect(key="compare.prompts").set_value(["ask@1"])
    app.multiselect(key="compare.models").set_value(["remote"])
    app.radio(key="compare.mode").set_value("Dataset rows").run()
    app.radio(key="compare.rows.quiz@1.row_mode").set_value("filter").run()
    app.number_input(key="compare.rows.quiz@1.rows").set_value(2)
    app.selectbox(key="compare.rows.quiz@1.filter_column").set_value("topic")
    app.text_input(key="compare.rows.quiz@1.filter_text").input("SKY")
    _run_job(app, store)
    [run] = runs.list_runs(store, actor=SYSTEM)
    assert run.settings["source_rows"] == [1, 3]
    assert any("Saved run" in s.value for s in app.success)
    app.radio(key="compare.rows.quiz@1.row_mode").set_value("numbers").run()
    app.text_input(key="compare.rows.quiz@1.row_numbers").input("10, 2-3")
    _run_job(app, store)
    newest = runs.list_runs(store, actor=SYSTEM)[0]
    assert newest.settings["source_rows"] == [9, 1, 2]
    app.radio(key="compare.rows.quiz@1.row_mode").set_value("sample").run()
    app.number_input(key="compare.rows.quiz@1.seed").set_value(7)
    app.number_input(key="compare.rows.quiz@1.rows").set_value(3)
    _run_job(app, store)
    sampled = runs.list_runs(store, actor=SYSTEM)[0]
    assert len(sampled.settings["source_rows"]) == 3 and sampled.settings["row_selection"]["sample_seed"] == 7
    app.radio(key="compare.rows.quiz@1.row_mode").set_value("numbers").run()
    app.text_input(key="compare.rows.quiz@1.row_numbers").input("ten").run()
    assert any("not a row number" in str(e.value) for e in app.error)
    assert app.button(key="compare.run").disabled


@pytest.mark.parametrize("name", ["ann", "vic"])
def test_annotators_and_viewers_are_not_authorised(store, people, name):
    app = _open(store, name)
    assert not app.exception
    assert any("Not authorised" in t for t in _texts(app))
    assert not app.dataframe
