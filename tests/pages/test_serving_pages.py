"""Serving on the pages under AppTest: the Admin page's API keys tab, the Models page's deployments section."""
from streamlit.testing.v1 import AppTest

from core.events.log import log_events
from core.events.schema import EventIn
from core.governance import logins
from core.governance.roles import SYSTEM
from core.models import bundled
from core.serving import deployments, keys
from tests.conftest import PASSWORD
from workbench.navigation import PAGES

ROOT = PAGES[0].path.parent.parent / "pages"
CHAT = bundled.DEFAULT_CHAT_MODEL


def _open(store, page: str, name: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / page), default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def test_an_admin_adds_a_key_sees_it_once_and_revokes_it(store, people):
    app = _open(store, "admin.py", "ada")
    form_inputs = {t.label: t for t in app.text_input}
    form_inputs["Application name"].input("helpdesk")
    next(b for b in app.button if b.label == "Add key").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    [shown] = [c.value for c in app.code]
    assert keys.authenticate(store, shown).name == "helpdesk"
    app.run()  # the key is not shown again
    assert not [c for c in app.code if c.value == shown]
    next(b for b in app.button if b.label == "Revoke").click().run()
    assert keys.authenticate(store, shown) is None


def test_the_models_page_shows_versions_traffic_and_lineage_and_promotes(models_store, people):
    store = models_store
    deployments.create_version(store, actor=SYSTEM, name="support-bot", model=CHAT)
    deployments.create_version(store, actor=SYSTEM, name="support-bot", model=CHAT, defaults={"max_tokens": 50})
    log_events(store, [EventIn(model=CHAT, input="hi", deployment="support-bot", deployment_version=1, arm="primary")
                       for _ in range(3)])
    viewer = _open(store, "models.py", "vic")
    assert not viewer.exception and not viewer.error
    frames = [f.value for f in viewer.dataframe]
    assert any("Deployment" in f and list(f["Deployment"]) == ["support-bot"] for f in frames)
    assert any("Calls" in f and list(f["Calls"]) == [3] for f in frames)
    assert any("Step" in f and "smollm2-135m-instruct" in set(f["Value"]) for f in frames)
    assert not [b for b in viewer.button if b.label == "Promote"]
    scientist = _open(store, "models.py", "dan")
    next(b for b in scientist.button if b.label == "Promote").click().run()
    assert not scientist.exception and not scientist.error
    assert deployments.get_deployment(store, actor=SYSTEM, name="support-bot").current_version == 2
