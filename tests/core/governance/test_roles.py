import pytest

from core.errors import InvalidInput, PermissionDenied
from core.governance.roles import ROLE_PERMISSIONS, Actor, Permission, Role, require


def test_only_admins_manage_users_and_read_the_audit_log():
    for role in Role:
        allowed = Actor("x", role).can(Permission.MANAGE_USERS)
        assert allowed == (role is Role.ADMIN)
        assert Actor("x", role).can(Permission.VIEW_AUDIT) == (role is Role.ADMIN)


def test_annotators_rate_blind_and_viewers_only_look():
    annotator, viewer = Actor("a", Role.ANNOTATOR), Actor("v", Role.VIEWER)
    assert annotator.can(Permission.ANNOTATE)
    assert not annotator.can(Permission.VIEW_MODELS)
    assert not annotator.can(Permission.VIEW_DATA_ROWS)
    assert viewer.can(Permission.VIEW_DASHBOARDS)
    assert not any(viewer.can(p) for p in (Permission.MANAGE_DATA, Permission.LAUNCH_JOBS, Permission.VIEW_DATA_ROWS))


def test_every_role_has_permissions_and_admin_has_them_all():
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)


def test_require_names_who_and_what_in_one_sentence():
    with pytest.raises(PermissionDenied) as caught:
        require(Actor("ann", Role.ANNOTATOR), Permission.LAUNCH_JOBS)
    assert "ann (Annotator) is not authorised to launch or cancel jobs." == caught.value.message


@pytest.mark.parametrize("text,role", [("admin", Role.ADMIN), ("Data-Scientist", Role.DATA_SCIENTIST),
                                       ("data scientist", Role.DATA_SCIENTIST), (" viewer ", Role.VIEWER)])
def test_role_names_are_read_forgivingly(text, role):
    assert Role.parse(text) is role


def test_an_unknown_role_lists_the_real_ones():
    with pytest.raises(InvalidInput, match="choose one of admin, data_scientist, annotator, viewer"):
        Role.parse("manager")
