"""API keys: shown once, stored as a hash, scopes and models checked, revocation immediate, audited."""
import pytest
from sqlmodel import select

from core.errors import Conflict, InvalidInput, PermissionDenied
from core.governance import audit
from core.governance.roles import SYSTEM, Role
from core.serving import keys
from core.storage.tables import ApiKey


@pytest.mark.postgres
def test_a_key_is_shown_once_and_only_its_hash_is_kept(any_store):
    info, key = keys.create_key(any_store, actor=SYSTEM, name="helpdesk", scopes="chat,events", models=["bot"],
                                rate_limit="30/min")
    assert key.startswith("wb-") and len(key) > 40
    with any_store.read() as session:
        row = session.exec(select(ApiKey)).one()
    assert row.key_hash == keys.hash_key(key) and key not in (row.key_hash, row.prefix)
    assert (info.scopes, info.models, info.rate_limit_per_min) == (["chat", "events"], ["bot"], 30)
    found = keys.authenticate(any_store, key)
    assert found.name == "helpdesk" and found.allows_model("bot") and not found.allows_model("other")
    assert keys.authenticate(any_store, key + "x") is None and keys.authenticate(any_store, None) is None
    assert [e.action for e in audit.list_events(any_store, actor=SYSTEM)][:1] == ["api_key.create"]


def test_a_revoked_key_is_refused_and_cannot_be_revoked_twice(store):
    _, key = keys.create_key(store, actor=SYSTEM, name="app")
    keys.revoke_key(store, actor=SYSTEM, name="app")
    assert keys.authenticate(store, key) is None
    assert not keys.list_keys(store, actor=SYSTEM)[0].active
    with pytest.raises(Conflict):
        keys.revoke_key(store, actor=SYSTEM, name="app")


def test_bad_names_scopes_rate_limits_and_duplicates_are_refused_in_a_sentence(store, people):
    for kwargs in ({"name": "has space"}, {"name": "a", "scopes": "chat,admin"}, {"name": "a", "rate_limit": "fast"}):
        with pytest.raises(InvalidInput):
            keys.create_key(store, actor=SYSTEM, **kwargs)
    keys.create_key(store, actor=SYSTEM, name="a")
    with pytest.raises(Conflict, match="exists already"):
        keys.create_key(store, actor=SYSTEM, name="a")
    with pytest.raises(PermissionDenied):
        keys.create_key(store, actor=people[Role.DATA_SCIENTIST].as_actor(), name="b")
