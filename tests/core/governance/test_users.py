import pytest
from sqlmodel import select

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.governance import audit, users
from core.governance.roles import SYSTEM, Role
from core.storage.tables import User
from tests.conftest import PASSWORD


def _events(store, action):
    return [e for e in audit.list_events(store, actor=SYSTEM) if e.action == action]


@pytest.mark.postgres
def test_an_admin_creates_a_user_whose_password_is_stored_hashed_and_audited(any_store):
    created = users.create_user(any_store, actor=SYSTEM, name="maria", role="data_scientist", password=PASSWORD,
                                email="maria@example.com")
    assert created.role is Role.DATA_SCIENTIST
    with any_store.read() as session:
        row = session.exec(select(User).where(User.name == "maria")).one()
    assert row.password_hash.startswith("$argon2")
    assert PASSWORD not in row.password_hash
    event = _events(any_store, "user.create")[0]
    assert (event.actor, event.target_id, event.after["role"]) == ("system", "maria", "data_scientist")


def test_non_admins_cannot_create_or_list_users(store, people):
    for role in (Role.DATA_SCIENTIST, Role.ANNOTATOR, Role.VIEWER):
        actor = people[role].as_actor()
        with pytest.raises(PermissionDenied):
            users.create_user(store, actor=actor, name="sneaky", role=Role.ADMIN, password=PASSWORD)
        with pytest.raises(PermissionDenied):
            users.list_users(store, actor=actor)
        with pytest.raises(PermissionDenied):
            users.set_role(store, actor=actor, name=actor.name, role=Role.ADMIN)
    assert "sneaky" not in [u.name for u in users.list_users(store, actor=SYSTEM)]


@pytest.mark.parametrize("name", ["", "a", "has space", "-dash", "x" * 65, "semi;colon"])
def test_bad_user_names_are_refused_with_a_sentence(store, name):
    with pytest.raises(InvalidInput, match="not a valid user name"):
        users.create_user(store, actor=SYSTEM, name=name, role=Role.VIEWER, password=PASSWORD)
    assert users.count_users(store) == 0


def test_short_passwords_and_taken_names_are_refused(store):
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        users.create_user(store, actor=SYSTEM, name="shorty", role=Role.VIEWER, password="1234567")
    users.create_user(store, actor=SYSTEM, name="Taken", role=Role.VIEWER, password=PASSWORD)
    with pytest.raises(Conflict, match="already exists"):
        users.create_user(store, actor=SYSTEM, name="taken", role=Role.VIEWER, password=PASSWORD)


def test_role_changes_are_audited_with_before_and_after(store, people):
    admin = people[Role.ADMIN].as_actor()
    users.set_role(store, actor=admin, name="vic", role=Role.DATA_SCIENTIST)
    event = _events(store, "user.set_role")[0]
    assert event.actor == "ada"
    assert event.before["role"] == "viewer" and event.after["role"] == "data_scientist"


def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(store, people):
    admin = people[Role.ADMIN].as_actor()
    with pytest.raises(Conflict, match="last active admin"):
        users.set_role(store, actor=admin, name="ada", role=Role.VIEWER)
    with pytest.raises(Conflict, match="last active admin"):
        users.set_active(store, actor=admin, name="ada", active=False)
    users.set_role(store, actor=admin, name="dan", role=Role.ADMIN)
    users.set_role(store, actor=admin, name="ada", role=Role.VIEWER)  # now allowed: dan is an admin too


def test_unknown_users_are_named_in_the_error(store, people):
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        users.set_role(store, actor=people[Role.ADMIN].as_actor(), name="nobody", role=Role.VIEWER)


def test_users_change_their_own_password_only_with_the_current_one(store, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    with pytest.raises(PermissionDenied, match="current password is wrong"):
        users.set_password(store, actor=dan, name="dan", new_password="new-password-1", current_password="wrong")
    with pytest.raises(PermissionDenied):
        users.set_password(store, actor=dan, name="ann", new_password="new-password-1", current_password=PASSWORD)
    users.set_password(store, actor=dan, name="dan", new_password="new-password-1", current_password=PASSWORD)
    assert _events(store, "user.set_password")[0].target_id == "dan"


def test_user_info_never_carries_the_password_hash(store, people):
    for info in users.list_users(store, actor=SYSTEM):
        assert "password" not in str(info.to_dict())
