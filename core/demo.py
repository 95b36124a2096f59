"""Demo content for a first look: one account per role, so each view of the workbench can be tried."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.governance import users
from core.governance.roles import Actor, Permission, Role, require
from core.home import write_secret
from core.storage.db import Store
from core.storage.tables import User

DEMO_LOGINS_FILE = "demo_logins.txt"
DEMO_USERS = (
    ("dana", Role.DATA_SCIENTIST, "dana@example.com"),
    ("ann", Role.ANNOTATOR, "ann@example.com"),
    ("victor", Role.VIEWER, "victor@example.com"),
)


@dataclass(frozen=True)
class DemoReport:
    users_created: list[str]
    logins_file: str


def is_seeded(store: Store) -> bool:
    return (store.settings.home / DEMO_LOGINS_FILE).exists()


def seed_demo(store: Store, *, actor: Actor) -> DemoReport:
    """Adds what is missing; never changes what a user made. Passwords are random and kept in a 0600 file."""
    require(actor, Permission.SEED_DEMO)
    created, lines = [], []
    from sqlmodel import select

    for name, role, email in DEMO_USERS:
        with store.read() as session:
            exists = session.exec(select(User.id).where(User.name == name)).first() is not None
        if exists:
            continue
        password = secrets.token_urlsafe(9)
        users.create_user(store, actor=actor, name=name, role=role, password=password, email=email)
        created.append(name)
        lines.append(f"{name}\t{role.value}\t{password}")
    path = store.settings.home / DEMO_LOGINS_FILE
    previous = path.read_text() if path.exists() else "user\trole\tpassword\n"
    write_secret(path, previous + "".join(line + "\n" for line in lines))
    return DemoReport(users_created=created, logins_file=str(path))
