"""The Models page under AppTest: the table for every reader, the register form and the remove dialog for managers."""
from streamlit.testing.v1 import AppTest

from core.governance import audit, logins
from core.governance.roles import SYSTEM
from core.models import registry, sources
from tests.conftest import PASSWORD
from workbench.navigation import PAGES

PAGE = str(PAGES[0].path.parent.parent / "pages" / "models.py")


def _open(store, name: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def test_viewers_see_the_table_and_lineage_but_no_form(models_store, people):
    sources.add_endpoint(models_store, actor=SYSTEM, name="remote", base_url="http://localhost:8000/v1", model="m")
    app = _open(models_store, "vic")
    assert not app.exception and not app.error
    frame = app.dataframe[0].value
    assert set(frame["Name"]) == {"minilm-l6-v2", "smollm2-135m-instruct", "remote"}
    assert {"Size", "Architecture", "Context length", "Chat template", "Kind", "Came from", "Made from it"} <= set(frame)
    assert "Register a model" not in [h.value for h in app.subheader]
    assert not [b for b in app.button if b.label.startswith("Remove")]


def test_a_data_scientist_registers_an_endpoint_through_the_form(models_store, people):
    app = _open(models_store, "dan")
    app.selectbox(key="models.register.kind").set_value("openai").run()
    fields = {t.label: t for t in app.text_input}
    fields["Name"].input("local-vllm")
    fields["Base URL"].input("http://localhost:8000/v1")
    fields["Model name the server serves"].input("qwen2.5-7b")
    fields["API key: name of the environment variable or secret (optional)"].input("VLLM_KEY")
    next(b for b in app.button if b.label == "Register").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any(s.value.startswith("Registered local\\-vllm from") for s in app.success), [s.value for s in app.success]
    model = registry.get_model(models_store, actor=SYSTEM, name="local-vllm")
    assert model.kind == "openai" and model.info["api_key_env"] == "VLLM_KEY" and model.created_by == "dan"


def test_a_bad_form_entry_is_one_sentence_and_registers_nothing(models_store, people, tmp_path):
    app = _open(models_store, "ada")
    fields = {t.label: t for t in app.text_input}
    fields["Name"].input("mine")
    fields["Folder on the workbench server"].input(str(tmp_path / "nowhere"))
    next(b for b in app.button if b.label == "Register").click().run()
    assert not app.exception
    assert [e.value for e in app.error][-1].endswith("does not exist\\.")
    assert registry.count_models(models_store) == 2


def test_removing_asks_first_then_removes_and_audits(models_store, people):
    sources.add_endpoint(models_store, actor=SYSTEM, name="remote", base_url="http://localhost:8000/v1", model="m")
    app = _open(models_store, "ada")
    app.selectbox(key="models.selected").set_value("remote").run()
    next(b for b in app.button if b.label == "Remove...").click().run()
    assert registry.is_registered(models_store, "remote"), "nothing is removed before the confirmation"
    next(b for b in app.button if b.label == "Remove").click().run()
    assert not app.exception
    assert not registry.is_registered(models_store, "remote")
    assert audit.list_events(models_store, actor=SYSTEM)[0].action == "model.remove"


def test_bundled_models_cannot_be_removed_from_the_page(models_store, people):
    app = _open(models_store, "ada")
    app.selectbox(key="models.selected").set_value("smollm2-135m-instruct").run()
    assert next(b for b in app.button if b.label == "Remove...").disabled


def test_viewers_see_no_server_file_paths_but_data_scientists_do(models_store, people):
    folder = registry.get_model(models_store, actor=SYSTEM, name="smollm2-135m-instruct").path
    assert folder and folder.startswith("/")

    def everything_shown(app) -> str:
        parts = [str(d.value.to_dict()) for d in app.dataframe] + [c.value for c in app.code]
        parts += [t.value for t in app.text] + [str(j.value) for j in app.json]
        return "\n".join(parts)

    viewer = _open(models_store, "vic")
    viewer.selectbox(key="models.selected").set_value("smollm2-135m-instruct").run()
    assert not viewer.exception
    assert folder not in everything_shown(viewer) and "/" + folder.strip("/").split("/")[0] not in everything_shown(viewer)
    assert "Where it lives" not in [m.value for m in viewer.markdown]
    scientist = _open(models_store, "dan")
    scientist.selectbox(key="models.selected").set_value("smollm2-135m-instruct").run()
    assert folder in everything_shown(scientist)
