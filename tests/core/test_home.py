import os
import stat

from core import demo, doctor
from core.governance import logins, users
from core.governance.roles import SYSTEM
from core.home import ADMIN_PASSWORD_FILE, init_workbench, open_store
from core.storage import migrate


def test_init_creates_the_home_the_first_admin_and_is_idempotent(home):
    report = init_workbench(home, with_models=False)
    assert report.admin_created and report.schema_revision == migrate.head_revision()
    for folder in ("models", "datasets", "runs", "logs"):
        assert (home.home / folder).is_dir()
    secret = home.home / ADMIN_PASSWORD_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    name, password = secret.read_text().split()
    again = init_workbench(home, with_models=False)
    assert not again.admin_created
    store = open_store(home)
    assert logins.log_in(store, name=name, password=password).user.role.value == "admin"
    assert users.count_users(store) == 1
    store.dispose()


def test_the_first_admin_password_can_be_chosen(home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ADMIN_PASSWORD", "chosen-by-ops-1")
    init_workbench(home, with_models=False)
    store = open_store(home)
    assert logins.log_in(store, name="admin", password="chosen-by-ops-1")
    store.dispose()


def test_demo_seed_adds_one_account_per_role_with_private_passwords(store):
    report = demo.seed_demo(store, actor=SYSTEM)
    assert report.users_created == ["dana", "ann", "victor"]
    lines = [line.split("\t") for line in open(report.logins_file).read().splitlines()[1:]]
    assert {role for _, role, _ in lines} == {"data_scientist", "annotator", "viewer"}
    assert stat.S_IMODE(os.stat(report.logins_file).st_mode) == 0o600
    for name, _, password in lines:
        assert logins.log_in(store, name=name, password=password).user.name == name
    assert demo.seed_demo(store, actor=SYSTEM).users_created == []


def test_doctor_reports_every_area_and_finds_a_missing_model_store(home):
    init_workbench(home, with_models=False)
    checks = {c.name: c for c in doctor.run_checks(home)}
    assert checks["python"].ok and checks["torch"].ok and checks["home"].ok and checks["database"].ok
    assert not checks["model smollm2-135m-instruct"].ok
    assert "workbench init" in checks["model smollm2-135m-instruct"].detail


def test_doctor_says_when_the_database_is_unreachable(home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    from core.settings import Settings

    check = next(c for c in doctor.run_checks(Settings.from_env()) if c.name == "database")
    assert not check.ok and "not reachable" in check.detail
