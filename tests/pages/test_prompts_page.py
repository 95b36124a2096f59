"""The Prompts page under AppTest: create, edit into a new version, preview with the chat template, label, diff."""
import pytest
from streamlit.testing.v1 import AppTest

from core.governance import logins
from core.governance.roles import SYSTEM
from core.prompts import templates
from tests.conftest import PASSWORD
from workbench.navigation import PAGES

PAGE = str(PAGES[0].path.parent.parent / "pages" / "prompts.py")


def _open(store, name: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _said(elements, text: str) -> bool:
    """Whether any element says `text` once Markdown escapes are removed."""
    return any(text in e.value.replace("\\", "") for e in elements)


def _button(app, label):
    return next(b for b in app.button if b.label == label)


def test_an_empty_workbench_says_how_to_start_and_a_template_is_created(store, people):
    app = _open(store, "dan")
    assert not app.exception
    assert any("No prompt template yet" in i.value for i in app.info)
    areas = {a.label: a for a in app.text_area}
    app.text_input[0].input("summary")
    areas["User message"].input("Summarise: {{ text }}")
    next(b for b in app.button if b.label == "Create template").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert _said(app.success, "Created summary@1")
    assert templates.get_version(store, actor=SYSTEM, ref="summary").created_by == "dan"


def test_editing_saves_a_new_version_and_the_diff_shows_the_change(store, people):
    templates.save_version(store, actor=SYSTEM, name="reply", body="Reply to: {{ ticket }}")
    app = _open(store, "dan")
    body = next(a for a in app.text_area if a.label == "User message" and a.value == "Reply to: {{ ticket }}")
    body.input("Reply briefly to: {{ ticket }}\nSign as {{ agent }}.").run()
    assert any("`agent`" in c.value and "`ticket`" in c.value for c in app.caption)
    app.text_input(key="prompts.edit.reply.1.note").input("shorter, signed")
    _button(app, "Save as new version").click().run()
    assert not app.exception and not app.error
    assert _said(app.success, "Saved reply@2")
    latest = templates.get_version(store, actor=SYSTEM, ref="reply")
    assert latest.version == 2 and latest.variables == ["agent", "ticket"] and latest.note == "shorter, signed"
    diff = next(c for c in app.code if c.language == "diff").value
    assert "-Reply to: {{ ticket }}" in diff and "+Reply briefly to: {{ ticket }}" in diff


def test_a_syntax_error_is_one_sentence_and_saves_nothing(store, people):
    templates.save_version(store, actor=SYSTEM, name="reply", body="Reply to: {{ ticket }}")
    app = _open(store, "dan")
    next(a for a in app.text_area if a.label == "User message" and a.value).input("Reply {% if %}").run()
    assert _said(app.error, "syntax error on line 1")
    assert not app.exception
    assert len(templates.list_versions(store, actor=SYSTEM, name="reply")) == 1


@pytest.mark.slow
def test_the_preview_shows_typed_values_through_the_models_chat_template(models_store, people):
    templates.save_version(models_store, actor=SYSTEM, name="q", body="Question: {{ question }}", system="Be brief.")
    app = _open(models_store, "dan")
    app.text_input(key="prompts.value.question").input("<script>alert(1)</script> **bold**").run()
    assert not app.exception and not app.error
    assert "Question: <script>alert(1)</script> **bold**" in [t.value for t in app.text]
    chat = next(c.value for c in app.code if c.language == "text" and "<|im_start|>" in c.value)
    assert "<|im_start|>system\nBe brief.<|im_end|>" in chat and chat.rstrip().endswith("<|im_start|>assistant")


def test_a_label_moves_and_viewers_cannot_open_the_page(store, people):
    templates.save_version(store, actor=SYSTEM, name="reply", body="v1 {{ t }}")
    templates.save_version(store, actor=SYSTEM, name="reply", body="v2 {{ t }}")
    app = _open(store, "ada")
    form_select = next(s for s in app.selectbox if s.label == "Version" and s.key is None)
    form_select.set_value(1)
    _button(app, "Set label").click().run()
    assert not app.exception and not app.error
    assert templates.get_version(store, actor=SYSTEM, ref="reply@production").version == 1

    refused = _open(store, "vic")
    assert _said(refused.error, "Not authorised: your role (Viewer (manager)) may not use this page.")
    assert not refused.text_area and not refused.exception


def test_a_dataset_row_preview_picks_the_matching_dataset_and_says_when_a_column_is_not_text(store, people):
    from core.demo import seed_datasets

    seed_datasets(store, actor=SYSTEM)  # support-chat-sft (a messages column) sorts before support-tickets
    templates.save_version(store, actor=SYSTEM, name="reply", body="Subject: {{ subject }}\n\n{{ body }}")
    app = _open(store, "dan")
    app.radio(key="prompts.preview_source").set_value("A dataset row").run()
    assert not app.exception and not app.error
    assert app.selectbox(key="prompts.preview_dataset.reply").value.startswith("support-tickets@")
    assert not app.warning
    assert any(t.value.startswith("Subject: ") for t in app.text)

    templates.save_version(store, actor=SYSTEM, name="chat", body="Continue this chat: {{ messages }}")
    app.run()  # the template picker lists the new template
    app.selectbox(key="prompts.selected").set_value("chat").run()
    assert not app.exception and not app.error
    assert app.selectbox(key="prompts.preview_dataset.chat").value.startswith("support-chat-sft@")
    assert _said(app.warning, "'messages' is filled from the column 'messages', which holds a list of chat messages")
    shown = next(t.value for t in app.text if t.value.startswith("Continue this chat: "))
    assert '"role": "user"' in shown and "{'role'" not in shown  # JSON, not a Python dump
