"""Redaction makes a new version with placeholders, counts per type, and the parent in lineage."""
import pandas as pd
import pytest

from core.data import redact, versions
from core.errors import InvalidInput, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role


@pytest.fixture
def tickets(store):
    frame = pd.DataFrame({
        "body": ["Mail me at ana@example.com or call +49 30 1234567.", "Nothing personal here.", None],
        "messages": [[{"role": "user", "content": "my card is 4111 1111 1111 1111"},
                      {"role": "assistant", "content": "Thanks."}]] * 3,
        "n": [1, 2, 3],
    })
    version, _ = versions.save_version(store, actor=SYSTEM, name="tickets", frame=frame, transformation="import",
                                       source="tickets.jsonl")
    return version


def test_redaction_makes_a_child_version_and_leaves_the_parent_alone(store, tickets):
    result = redact.redact_version(store, actor=SYSTEM, ref="tickets")
    assert result.version.ref == "tickets@2" and result.version.parents == ["tickets@1"]
    assert result.counts == {"email": 1, "phone": 1, "credit_card": 3}
    assert result.version.stats["redacted"] == result.counts
    child = versions.load_frame(store, actor=SYSTEM, version=result.version)
    assert child["body"][0] == "Mail me at <EMAIL> or call <PHONE>."
    assert child["body"][1] == "Nothing personal here." and pd.isna(child["body"][2])
    assert child["messages"][0][0]["content"] == "my card is <CREDIT_CARD>"
    assert child["n"].tolist() == [1, 2, 3]
    parent = versions.load_frame(store, actor=SYSTEM, version=tickets)
    assert "ana@example.com" in parent["body"][0]
    down = versions.lineage(store, actor=SYSTEM, ref="tickets@1")
    assert down.descendants == [("tickets@1", "tickets@2")]


def test_redaction_can_be_limited_to_types_and_columns(store, tickets):
    result = redact.redact_version(store, actor=SYSTEM, ref="tickets@1", types=["email"], columns=["body"])
    assert result.counts == {"email": 1}
    child = versions.load_frame(store, actor=SYSTEM, version=result.version)
    assert "+49 30 1234567" in child["body"][0]


def test_redacting_twice_adds_nothing_new(store, tickets):
    first = redact.redact_version(store, actor=SYSTEM, ref="tickets")
    second = redact.redact_version(store, actor=SYSTEM, ref="tickets@2")
    assert second.counts == {} and not second.created and second.version.ref == first.version.ref


def test_bad_requests_and_permissions(store, tickets):
    with pytest.raises(InvalidInput, match="No column named 'nope'"):
        redact.redact_version(store, actor=SYSTEM, ref="tickets", columns=["nope"])
    with pytest.raises(InvalidInput):
        redact.redact_version(store, actor=SYSTEM, ref="tickets", types=["passport"])
    with pytest.raises(PermissionDenied):
        redact.redact_version(store, actor=Actor("vic", Role.VIEWER), ref="tickets")
