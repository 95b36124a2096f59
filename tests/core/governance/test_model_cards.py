"""Model cards: built from the registry and evaluations, editable text audited, exports escape everything."""
import pytest

from core.errors import PermissionDenied
from core.evaluation import suites
from core.governance import audit, model_cards
from core.governance.roles import SYSTEM, Actor, Role
from core.models import registry


@pytest.fixture
def model(store):
    registry.register_model(store, actor=SYSTEM, name="helper", kind="openai", task="chat", source="http://x",
                            details={"info": {"license": "apache-2.0", "description": "A helper."}})
    return "helper"


def test_card_holds_registry_facts_and_edited_text(store, model):
    model_cards.set_card_text(store, actor=SYSTEM, model=model, intended_use="Support replies in English.",
                              limitations="<script>alert(1)</script> Not for legal advice | ever.")
    card = model_cards.build_card(store, actor=SYSTEM, model=model)
    assert card["licence"] == "apache-2.0" and card["intended_use"] == "Support replies in English."
    markdown = model_cards.to_markdown(card)
    assert "# Model card: helper" in markdown and "apache-2.0" in markdown
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    page = model_cards.to_html(card)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="model_card.edit"))


def test_only_model_managers_edit_cards(store, model):
    with pytest.raises(PermissionDenied):
        model_cards.set_card_text(store, actor=Actor("vic", Role.VIEWER), model=model, intended_use="x",
                                  limitations=None)
    assert model_cards.build_card(store, actor=Actor("vic", Role.VIEWER), model=model)["model"] == "helper"
