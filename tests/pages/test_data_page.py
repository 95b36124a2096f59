"""The Data page on real demo datasets: profile, lineage, redaction, export and overlap, without an exception."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from core.data import ingest, versions
from core.demo import seed_datasets
from core.governance import logins
from core.governance.roles import SYSTEM, Role
from core.models import registry
from tests.conftest import PASSWORD
from tests.pages.test_pages import ROOT


@pytest.fixture
def data_page(models_store, people):
    seed_datasets(models_store, actor=SYSTEM)
    token = logins.log_in(models_store, name=people[Role.DATA_SCIENTIST].name, password=PASSWORD).token
    app = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    app.session_state["auth.token"] = token
    return app.run()


def _button(app, label):
    return next(b for b in app.button if b.label == label)


@pytest.mark.slow
def test_profiling_the_demo_tickets_shows_alerts_and_readiness(data_page):
    app = data_page
    assert not app.exception
    assert app.selectbox(key="data.selected").value == "support-chat-sft"
    app.selectbox(key="data.selected").set_value("support-tickets").run()
    _button(app, "Profile this version").click().run()
    assert not app.exception, app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Rows"] == "3,000" and int(metrics["Alerts"]) > 0
    # Alerts are a static table (long findings wrap instead of being cut off).
    alerts = next(t.value for t in app.table if "Finding" in t.value.columns)
    assert alerts["Finding"].str.contains("personal data").any()
    assert alerts["Severity"].iloc[0] == "High"
    # Duplicate shares are part of the value, never a delta badge that reads like a change over time.
    app.selectbox(key="data.column.support-tickets@1").set_value("body").run()
    duplicates = next(m for m in app.metric if m.label == "Exact duplicates")
    assert "%" in duplicates.value and not duplicates.proto.delta


@pytest.mark.slow
def test_the_chat_set_shows_its_broken_conversations(data_page):
    app = data_page
    _button(app, "Profile this version").click().run()
    assert not app.exception
    readiness = next(df.value for df in app.dataframe if list(df.value.columns) == ["Row", "Problem"])
    assert readiness["Problem"].str.contains("does not end with an assistant reply").any()


def test_redacting_from_the_page_makes_a_new_version(data_page, models_store):
    app = data_page
    app.selectbox(key="data.selected").set_value("support-tickets").run()
    _button(app, "Redact into a new version").click().run()
    assert not app.exception
    assert any("support-tickets@2" in s.value.replace("\\", "") for s in app.success)
    assert versions.get_version(models_store, actor=SYSTEM, ref="support-tickets").parents == ["support-tickets@1"]
    # The lineage graph names the operation on its edge, and the versions with their rows.
    app.run()
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    lineage = next(spec for spec in specs if any(a.get("text") == "redact" for a in spec["layout"].get("annotations", [])))
    assert any("support-tickets@2" in text for trace in lineage["data"] for text in trace.get("text") or [])


def test_overlap_and_export_run(data_page):
    app = data_page
    _button(app, "Check overlap").click().run()
    assert not app.exception
    assert {m.label for m in app.metric} >= {"Exact copies", "Near-duplicates", "Contaminated"}
    # Export is one step: the download button is there at once (no "Prepare" first).
    [download] = app.get("download_button")
    assert download.proto.label.startswith("Download support-chat-sft-v1.")
    assert not [b for b in app.button if b.label.startswith("Prepare")]


def _caption(app, start):
    return next(c.value.replace("\\", "") for c in app.caption if c.value.replace("\\", "").startswith(start))


def _flash(app):
    return " | ".join(s.value.replace("\\", "") for s in app.success)


def test_an_upload_names_the_dataset_after_its_file_without_overwriting_what_the_user_types(data_page, models_store):
    app = data_page
    app.file_uploader(key="data.upload").set_value(("tickets.csv", b"subject,body\nhi,hello\n", "text/csv")).run()
    assert app.text_input(key="data.import_name").value == "tickets"
    app.text_input(key="data.import_name").input("my-tickets").run()
    app.checkbox(key="data.skip_bad_rows").check().run()  # any later run keeps the typed name
    assert app.text_input(key="data.import_name").value == "my-tickets"
    app.file_uploader(key="data.upload").set_value(("Orders export (2).csv", b"id,total\n1,2\n", "text/csv")).run()
    assert app.text_input(key="data.import_name").value == "Orders-export-2"
    _button(app, "Import").click().run()
    assert not app.exception
    assert versions.get_version(models_store, actor=SYSTEM, ref="Orders-export-2").rows == 1
    assert app.selectbox(key="data.selected").value == "Orders-export-2"


def test_the_caption_says_where_a_version_came_from(data_page):
    app = data_page
    assert "· Imported from support-chat-sft.jsonl ·" in _caption(app, "support-chat-sft@1 ·")
    app.selectbox(key="data.selected").set_value("support-tickets").run()
    _button(app, "Redact into a new version").click().run()
    caption = _caption(app, "support-tickets@2 ·")
    assert "· Redacted from support-tickets@1 ·" in caption and "redaction of" not in caption


def test_a_redaction_shows_the_new_version_in_the_pickers_and_lineage_at_once(data_page):
    app = data_page
    app.selectbox(key="data.selected").set_value("support-tickets").run()
    _button(app, "Redact into a new version").click().run()
    assert not app.exception
    assert "support-tickets@2 made from support-tickets@1" in _flash(app)
    picker = app.selectbox(key="data.version.support-tickets")
    assert picker.options == ["2", "1"] and picker.value == 2
    lineage = next(df.value for df in app.dataframe if "Made by" in df.value.columns)
    assert list(lineage["Version"]) == ["support-tickets@2", "support-tickets@1"]
    assert list(lineage["Rows"]) == ["3,000", "3,000"]
    assert list(lineage["Parents"]) == ["support-tickets@1", ""]
    assert list(lineage["From"]) == ["", "support-tickets.csv"]
    app.run()  # the message is shown once
    assert "made from" not in _flash(app)


def test_dedupe_split_and_merge_show_their_versions_at_once(data_page, models_store, tmp_path):
    file = tmp_path / "notes.csv"
    file.write_text("note\nreset my password\nReset  my password\nwhere is my order\n")
    ingest.import_file(models_store, actor=SYSTEM, path=file, name="notes")
    app = data_page.run()
    app.selectbox(key="data.selected").set_value("notes").run()
    _button(app, "Remove duplicates").click().run()
    assert not app.exception
    assert "Made notes@2 (2 rows); 1 rows removed." in _flash(app)
    assert app.selectbox(key="data.version.notes").value == 2
    assert "· Duplicates removed from notes@1 ·" in _caption(app, "notes@2 ·")
    _button(app, "Remove duplicates").click().run()
    assert "Nothing to change: notes@2 already holds this content." in _flash(app)

    _button(app, "Split into train and eval").click().run()
    assert not app.exception
    assert {"notes-train", "notes-eval"} <= set(app.selectbox(key="data.selected").options)
    assert "Made notes-train@1 (1 rows), notes-eval@1 (1 rows)." in _flash(app)

    app.multiselect(key="data.merge_with.notes").select("support-chat-sft").run()
    _button(app, "Merge into a new dataset").click().run()
    assert not app.exception
    assert app.selectbox(key="data.selected").value == "notes-merged"
    assert "· Merged from notes@2, support-chat-sft@1 ·" in _caption(app, "notes-merged@1 ·")


def test_the_tokenizer_picker_lists_only_local_chat_models_with_a_tokenizer(data_page, models_store, tmp_path):
    with_tokenizer = tmp_path / "adapter"
    with_tokenizer.mkdir()
    (with_tokenizer / "tokenizer_config.json").write_text("{}")
    (tmp_path / "bare").mkdir()
    for name, kind, task, path in (("endpoint", "openai", "chat", None), ("my-adapter", "adapter", "chat", with_tokenizer),
                                   ("no-tokenizer", "hf_local", "chat", tmp_path / "bare"),
                                   ("gone", "hf_local", "chat", tmp_path / "missing"),
                                   ("embedder", "hf_local", "embedding", with_tokenizer)):
        registry.register_model(models_store, actor=SYSTEM, name=name, kind=kind, task=task, source="test",
                                path=str(path) if path else None)
    app = data_page.run()
    assert app.selectbox(key="data.profile.tokenizer_model").options == ["smollm2-135m-instruct"]


def test_a_profile_shows_readable_format_and_plain_severity_words(data_page, models_store, tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Question number {i}?"},
                          {"role": "assistant", "content": "Thanks, we will reply soon."}],
             "note": f"Customer {i} writes from user{i}@example.com"} for i in range(6)]
    file = tmp_path / "chat.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows))
    ingest.import_file(models_store, actor=SYSTEM, path=file, name="tiny-chat")
    app = data_page.run()
    app.selectbox(key="data.selected").set_value("tiny-chat").run()
    _button(app, "Profile this version").click().run()
    assert not app.exception, app.exception
    metric = next(m for m in app.metric if m.label == "Fine-tuning format")
    assert metric.value == "Chat" and "Chat messages" in metric.proto.help
    # Alerts are a static table (long findings wrap instead of being cut off).
    alerts = next(t.value for t in app.table if "Finding" in t.value.columns)
    assert set(alerts["Severity"]) <= {"High", "Medium", "Low"} and alerts["Severity"].iloc[0] == "High"


def test_viewers_get_a_read_only_catalogue_of_names_and_sizes_without_rows(store, people):
    seed_datasets(store, actor=SYSTEM)
    app = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name="vic", password=PASSWORD).token
    app.run()
    assert not app.exception and not app.error
    [frame] = [df.value for df in app.dataframe]
    assert set(frame["Dataset"]) == {d.name for d in versions.list_datasets(store, actor=SYSTEM)}
    assert {"Rows", "Columns", "Size", "Versions"} <= set(frame.columns)
    assert not app.button and not app.selectbox  # nothing to open, import, profile or export
    annotator = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60)
    annotator.session_state["auth.token"] = logins.log_in(store, name="ann", password=PASSWORD).token
    assert "Not authorised" in annotator.run().error[0].value


def test_columns_with_other_names_can_be_mapped_and_checked_for_fine_tuning(models_store, people, tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("ask,reply\nWhat is 2+2?,4\nCapital of France?,Paris\nEmpty one,\n")
    ingest.import_file(models_store, actor=SYSTEM, path=path, name="pairs")
    app = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(models_store, name="dan", password=PASSWORD).token
    app.run()
    _button(app, "Profile this version").click().run()
    assert not app.exception and not app.error
    assert any("No fine-tuning format recognised" in i.value for i in app.info)
    app.selectbox(key="data.mapping.pairs@1.prompt_completion.prompt").set_value("ask")
    app.selectbox(key="data.mapping.pairs@1.prompt_completion.completion").set_value("reply")
    _button(app, "Check this mapping").click().run()
    assert not app.exception and not app.error
    assert any("1 problem(s) in 3 rows" in w.value.replace("\\", "") for w in app.warning), [w.value for w in app.warning]
    assert any("--format prompt_completion --prompt-column ask --response-column reply" in c.value for c in app.code)
