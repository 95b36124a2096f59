"""The Pipelines page under AppTest: build a chain step by step, save it, run it, read the steps side by side."""
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import pipelines
from core.data import versions
from core.governance import logins
from core.governance.roles import SYSTEM
from core.jobs import actions
from core.models.bundled import DEFAULT_CHAT_MODEL as CHAT
from core.prompts import templates
from tests.conftest import PASSWORD
from tests.pages.test_pages import ROOT

PAGE = str(ROOT / "pages" / "pipelines.py")
TEXTS = ["Our invoice shows the wrong company name. Please send a corrected one.",
         "The app crashes at start since the update. <b>Reinstalling</b> did not help. **Urgent**"]


def _open(store, name: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _button(app, label):
    return next(b for b in app.button if b.label == label)


def _picker(app, label):
    return next(s for s in app.selectbox if s.label.replace("\\", "") == label)


@pytest.fixture
def ready(models_store, people):
    templates.save_version(models_store, actor=SYSTEM, name="summarise", body="Summarise in one sentence: {{ text }}")
    templates.save_version(models_store, actor=SYSTEM, name="rate",
                           body="Rate from 1 (easy) to 5 (hard) how hard this is to read: {{ summary }}")
    versions.save_version(models_store, actor=SYSTEM, name="notes", frame=pd.DataFrame({"text": TEXTS}),
                          transformation="import", source="test")
    return models_store


def test_empty_states_say_what_to_do_next(store, people):
    app = _open(store, "dan")
    assert not app.exception
    infos = " ".join(i.value for i in app.info)
    assert "No dataset yet" in infos and "No pipeline saved yet" in infos and "No prompt template yet" in infos


def test_annotators_and_viewers_are_refused(store, people):
    for name in ("ann", "vic"):
        app = _open(store, name)
        assert not app.exception
        assert app.error[0].value.startswith("Not authorised")


def _add_generate(app, name, template, variable_source=None, numeric=False, max_new=0):
    app.radio(key="pipelines.add.kind").set_value("generate").run()
    app.text_input(key="pipelines.add.name").input(name)
    app.selectbox(key="pipelines.add.template").set_value(template).run()
    if variable_source:
        variable, source = variable_source
        _picker(app, f"{{{{ {variable} }}}} ←").set_value(source)
    app.checkbox(key="pipelines.add.numeric").set_value(numeric)
    app.number_input(key="pipelines.add.max_new_tokens").set_value(max_new)
    _button(app, "Add step").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]


@pytest.mark.slow
def test_build_save_run_and_read_the_steps_side_by_side(ready):
    app = _open(ready, "dan")
    assert not app.exception
    _add_generate(app, "summary", "summarise")
    assert app.selectbox(key="pipelines.add.model").value == CHAT
    # The new step's only variable defaults to the earlier step's output.
    app.radio(key="pipelines.add.kind").set_value("generate").run()
    app.selectbox(key="pipelines.add.template").set_value("rate").run()
    assert _picker(app, "{{ summary }} ←").value == "step:summary"
    _add_generate(app, "difficulty", "rate", numeric=True, max_new=4)
    app.radio(key="pipelines.add.kind").set_value("metric").run()
    app.text_input(key="pipelines.add.name").input("ease")
    app.selectbox(key="pipelines.add.metric").set_value("readability")
    _picker(app, "Score").set_value("step:summary")
    _button(app, "Add step").click().run()
    assert not app.exception and not app.error
    draft = app.dataframe[0].value
    assert draft["Step"].tolist() == ["summary", "difficulty", "ease"]

    # A second step of the same name is refused in a sentence and not added.
    app.text_input(key="pipelines.add.name").input("ease")
    _button(app, "Add step").click().run()
    assert "Two steps are named 'ease'" in app.error[0].value.replace("\\", "")

    app.text_input(key="pipelines.draft_name").input("chain")
    _button(app, "Save pipeline").click().run()
    assert not app.exception and app.success[0].value == "Saved chain."
    saved = pipelines.get_pipeline(ready, actor=SYSTEM, name="chain")
    assert [s.name for s in saved.steps] == ["summary", "difficulty", "ease"]
    assert saved.steps[1].settings == {"max_new_tokens": 4} and saved.steps[0].template == "summarise@1"
    assert "No run of this pipeline yet" in " ".join(i.value for i in app.info)

    app.number_input(key="pipelines.rows").set_value(2)
    app.number_input(key="pipelines.max_new_tokens").set_value(12)
    _button(app, "Run over notes@1").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    job_id = app.session_state["pipelines.job_id"]
    assert _button(app, "Run over notes@1").disabled, "a second click must not start a second run"
    done = actions.wait(ready, actor=SYSTEM, job_id=job_id, timeout_s=600, poll_s=0.3)
    assert done.status == "succeeded", (done.error, actions.logs(ready, actor=SYSTEM, job_id=job_id)[-3000:])
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any(s.value.startswith("Run ") and "succeeded" in s.value for s in app.success), [(e.type, e.value) for k in ("success", "warning", "info") for e in getattr(app, k)]
    [run] = pipelines.list_runs(ready, actor=SYSTEM, name="chain")
    assert run.status == "succeeded" and run.rows == 2
    outputs = next(df.value for df in app.dataframe if "difficulty value" in df.value.columns)
    assert list(outputs.columns) == ["row", "text", "summary", "difficulty", "difficulty value", "ease"]
    assert outputs["text"].tolist() == TEXTS and outputs["summary"].str.len().min() > 0
    metrics = {m.label.replace("\\", ""): m.value for m in app.metric}
    assert {"summary: mean tokens out", "difficulty: mean value", "ease: mean Readability"} <= set(metrics)
    # Untrusted text stays text: nothing in the markdown-rendering elements carries it.
    assert not any("<b>" in m.value or "**Urgent**" in m.value for m in app.markdown)
    prompt = [t.value for t in app.text]
    assert prompt and TEXTS[0] in prompt[-1]
    app.selectbox(key="pipelines.prompt_step").set_value("difficulty").run()
    assert outputs["summary"][0] in app.text[-1].value
    assert [d.label for d in app.get("download_button")] == ["Download CSV", "Download JSONL"]


def test_reopening_a_past_run_and_deleting(ready):
    pipelines.save_pipeline(ready, actor=SYSTEM, name="lengths", steps=[
        {"name": "words", "kind": "metric", "metric": "length_words", "output": "column:text"}])
    first = pipelines.run_pipeline(ready, actor=SYSTEM, name="lengths", dataset_version="notes@1", rows=1)
    second = pipelines.run_pipeline(ready, actor=SYSTEM, name="lengths", dataset_version="notes@1", rows=2)
    app = _open(ready, "dan")
    assert not app.exception
    assert app.selectbox(key="pipelines.run_id").value == second.id
    app.selectbox(key="pipelines.run_id").set_value(first.id).run()
    outputs = next(df.value for df in app.dataframe if "words" in df.value.columns)
    assert outputs["words"].tolist() == [len(TEXTS[0].split())]

    app.selectbox(key="pipelines.load_name").set_value("lengths")
    assert _picker(app, "{{ summary }} ←").value == "column:text"  # no step yet: the dataset's column
    _button(app, "Load into the editor").click().run()
    assert _picker(app, "{{ summary }} ←").value == "step:words"  # the loaded steps are offered first
    assert app.text_input(key="pipelines.draft_name").value == "lengths"
    assert app.dataframe[0].value["Step"].tolist() == ["words"]

    _button(app, "Delete...").click().run()
    _button(app, "Delete").click().run()
    assert not app.exception
    assert pipelines.count_pipelines(ready) == 0
    assert app.success[0].value == "Deleted lengths."
