"""Every page runs under Streamlit's AppTest for every role: allowed pages render, others say 'not authorised'."""
import pytest
from streamlit.testing.v1 import AppTest

from core.governance import logins
from core.governance.roles import Role
from tests.conftest import PASSWORD
from workbench.navigation import PAGES

ROOT = PAGES[0].path.parent.parent


def _page(spec_or_file, token: str | None) -> AppTest:
    path = spec_or_file.path if hasattr(spec_or_file, "path") else ROOT / spec_or_file
    app = AppTest.from_file(str(path), default_timeout=60)
    if token:
        app.session_state["auth.token"] = token
    return app.run()


def _texts(app: AppTest) -> str:
    parts = [e.value for e in app.error] + [e.value for e in app.warning] + [e.value for e in app.info]
    return " | ".join(str(p) for p in parts)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("spec", PAGES, ids=lambda s: s.url_path)
def test_each_page_for_each_role(models_store, people, role, spec):
    token = logins.log_in(models_store, name=people[role].name, password=PASSWORD).token
    app = _page(spec, token)
    assert not app.exception, app.exception
    if spec.allowed(people[role].as_actor()):
        assert "Not authorised" not in _texts(app)
        assert "Something went wrong" not in _texts(app)
    else:
        assert "Not authorised" in _texts(app)


@pytest.mark.parametrize("spec", PAGES, ids=lambda s: s.url_path)
def test_pages_ask_for_a_login_without_one(store, spec):
    app = _page(spec, None)
    assert not app.exception
    assert "Log in first" in _texts(app)


def test_login_form_logs_in_and_a_wrong_password_is_one_sentence(store, people):
    app = AppTest.from_file(str(ROOT / "workbench" / "app.py"), default_timeout=60).run()
    app.text_input(key="auth.name").input("dan")
    app.text_input(key="auth.password").input("not-the-password")
    app.button[0].click().run()
    assert len(app.error) == 1 and "Wrong user name or password" in app.error[0].value
    app.text_input(key="auth.password").input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception
    assert app.session_state["auth.token"]
    assert logins.resume(store, app.session_state["auth.token"]).name == "dan"


def test_an_expired_login_returns_to_the_form_with_a_notice(store, people):
    login = logins.log_in(store, name="vic", password=PASSWORD)
    logins.log_out(store, login.token)
    app = AppTest.from_file(str(ROOT / "workbench" / "app.py"), default_timeout=60)
    app.session_state["auth.token"] = login.token
    app.run()
    assert "session has ended" in _texts(app)
    assert [t.label for t in app.text_input] == ["User name", "Password"]


def test_admin_page_adds_a_user_and_audits_it(store, people):
    token = logins.log_in(store, name="ada", password=PASSWORD).token
    app = _page("pages/admin.py", token)
    form_inputs = {t.label: t for t in app.text_input}
    form_inputs["User name"].input("newbie")
    form_inputs["Password"].input("long-password-1")
    next(b for b in app.button if b.label == "Add user").click().run()
    assert not app.exception
    assert any("Added newbie" in s.value for s in app.success)
    from core.governance import audit
    from core.governance.roles import SYSTEM

    assert audit.list_events(store, actor=SYSTEM)[0].target_id == "newbie"


def test_admin_page_bad_input_is_one_sentence_and_saves_nothing(store, people):
    token = logins.log_in(store, name="ada", password=PASSWORD).token
    app = _page("pages/admin.py", token)
    form_inputs = {t.label: t for t in app.text_input}
    form_inputs["User name"].input("bad name!")
    form_inputs["Password"].input("long-password-1")
    next(b for b in app.button if b.label == "Add user").click().run()
    assert not app.exception
    assert any("not a valid user name" in e.value for e in app.error)
    from core.governance import users

    assert users.count_users(store) == 4
