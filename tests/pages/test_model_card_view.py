"""The model card on the Models page: shown with its sections, edited by a data scientist, read-only for viewers."""
from streamlit.testing.v1 import AppTest

from core.governance import logins, model_cards
from core.governance.roles import SYSTEM
from core.models import registry
from tests.conftest import PASSWORD
from workbench.navigation import PAGES_DIR

PAGE = str(PAGES_DIR / "models.py")


def _open(store, name):
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def test_card_is_shown_and_edited(store, people):
    registry.register_model(store, actor=SYSTEM, name="helper", kind="openai", task="chat", source="http://x",
                            details={"info": {"license": "mit"}})
    app = _open(store, "dan")
    assert not app.exception and "Model card" in [e.label for e in app.expander]
    app.text_area(key="models.card.use.helper").set_value("Replies to <b>support</b> tickets.")
    next(b for b in app.button if b.label == "Save card text").click().run()
    assert model_cards.build_card(store, actor=SYSTEM, model="helper")["intended_use"] == \
        "Replies to <b>support</b> tickets."
    assert any("Replies to <b>support</b> tickets." == str(t.value) for t in app.text)  # plain text, not HTML
    viewer = _open(store, "vic")
    assert not viewer.exception and not [b for b in viewer.button if b.label == "Save card text"]
