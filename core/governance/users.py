"""Local accounts: create, list, change role, enable or disable, set passwords. Admins only, except one's own password."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, func, select

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.governance import audit
from core.governance.roles import Actor, Permission, Role, require
from core.storage.db import Store
from core.storage.tables import LoginSession, User, utcnow

MIN_PASSWORD_LENGTH = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class UserInfo:
    """What may leave core about an account: never the password hash."""

    id: int
    name: str
    role: Role
    email: str | None
    auth_provider: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None = None  # set while too many failed logins keep the account locked

    @property
    def locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > utcnow()

    @classmethod
    def of(cls, user: User) -> "UserInfo":
        return cls(
            id=user.id, name=user.name, role=Role(user.role), email=user.email, auth_provider=user.auth_provider,
            active=user.active, created_at=user.created_at, last_login_at=user.last_login_at,
            locked_until=user.locked_until,
        )

    def as_actor(self) -> Actor:
        return Actor(name=self.name, role=self.role, user_id=self.id)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "name": self.name, "role": self.role.value, "email": self.email,
            "auth_provider": self.auth_provider, "active": self.active,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "last_login_at": self.last_login_at.isoformat(timespec="seconds") if self.last_login_at else None,
            "locked_until": self.locked_until.isoformat(timespec="seconds") if self.locked else None,
        }


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise InvalidInput(
            f"'{name}' is not a valid user name: use 2 to 64 letters, digits, dots, dashes, underscores or @, "
            "starting with a letter or digit."
        )
    return name


def validate_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip() != password:
        raise InvalidInput("The password must not start or end with white space.")


def _find(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"There is no user named '{name}'.")
    return user


def _snapshot(user: User) -> dict:
    return {"role": user.role, "active": user.active, "email": user.email}


def _active_admins(session: Session) -> int:
    query = select(func.count()).select_from(User).where(User.role == Role.ADMIN.value, User.active == True)  # noqa: E712
    return session.exec(query).one()


def create_user(
    store: Store, *, actor: Actor, name: str, role: Role | str, password: str | None,
    email: str | None = None, auth_provider: str = "local",
) -> UserInfo:
    require(actor, Permission.MANAGE_USERS)
    name = validate_name(name)
    role = Role.parse(role) if isinstance(role, str) else role
    if auth_provider == "local":
        validate_password(password or "")
    email = (email or "").strip() or None
    if email and "@" not in email:
        raise InvalidInput(f"'{email}' is not an e-mail address.")
    with store.write() as session:
        if session.exec(select(User).where(func.lower(User.name) == name.lower())).first():
            raise Conflict(f"A user named '{name}' already exists.")
        user = User(
            name=name, role=role.value, email=email, auth_provider=auth_provider,
            password_hash=hash_password(password) if password else None,
        )
        session.add(user)
        session.flush()
        audit.record(session=session, actor=actor, action="user.create", target_type="user", target_id=name,
                     after=_snapshot(user))
        return UserInfo.of(user)


def list_users(store: Store, *, actor: Actor) -> list[UserInfo]:
    require(actor, Permission.MANAGE_USERS)
    with store.read() as session:
        return [UserInfo.of(u) for u in session.exec(select(User).order_by(User.name))]


def get_user(store: Store, name: str) -> UserInfo:
    """Looks an account up by name (used to act as a user from the CLI); no permission needed to know one's own."""
    with store.read() as session:
        return UserInfo.of(_find(session, name))


def count_users(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(User)).one()


def set_role(store: Store, *, actor: Actor, name: str, role: Role | str) -> UserInfo:
    require(actor, Permission.MANAGE_USERS)
    role = Role.parse(role) if isinstance(role, str) else role
    with store.write() as session:
        user = _find(session, name)
        before = _snapshot(user)
        if user.role == role.value:
            return UserInfo.of(user)
        if user.role == Role.ADMIN.value and user.active and _active_admins(session) <= 1:
            raise Conflict(f"'{name}' is the last active admin; make another admin first.")
        user.role = role.value
        session.add(user)
        audit.record(session=session, actor=actor, action="user.set_role", target_type="user", target_id=name,
                     before=before, after=_snapshot(user))
        return UserInfo.of(user)


def set_active(store: Store, *, actor: Actor, name: str, active: bool) -> UserInfo:
    """Disabling an account also ends its open logins."""
    require(actor, Permission.MANAGE_USERS)
    with store.write() as session:
        user = _find(session, name)
        before = _snapshot(user)
        if user.active == active:
            return UserInfo.of(user)
        if not active and user.role == Role.ADMIN.value and _active_admins(session) <= 1:
            raise Conflict(f"'{name}' is the last active admin and cannot be disabled.")
        user.active = active
        session.add(user)
        if not active:
            _revoke_all(session, user.id)
        audit.record(session=session, actor=actor, action="user.enable" if active else "user.disable",
                     target_type="user", target_id=name, before=before, after=_snapshot(user))
        return UserInfo.of(user)


def unlock(store: Store, *, actor: Actor, name: str) -> UserInfo:
    """Lifts a lock left by too many failed logins before it runs out."""
    require(actor, Permission.MANAGE_USERS)
    with store.write() as session:
        user = _find(session, name)
        if not (user.locked_until and user.locked_until > utcnow()):
            raise Conflict(f"'{name}' is not locked.")
        user.locked_until, user.failed_logins = None, 0
        session.add(user)
        audit.record(session=session, actor=actor, action="user.unlock", target_type="user", target_id=name,
                     detail="unlocked by an admin")
        return UserInfo.of(user)


def set_password(store: Store, *, actor: Actor, name: str, new_password: str, current_password: str | None = None) -> None:
    """Admins reset anyone's password; everyone else changes only their own, giving the current one."""
    validate_password(new_password)
    own = actor.name == name
    if not own:
        require(actor, Permission.MANAGE_USERS)
    with store.write() as session:
        user = _find(session, name)
        if user.auth_provider != "local":
            raise InvalidInput(f"'{name}' logs in through single sign-on and has no workbench password.")
        # Changing one's own password always proves the current one, except an admin's reset from the Admin page.
        must_prove = current_password is not None or not actor.can(Permission.MANAGE_USERS)
        if own and must_prove and not verify_password(user.password_hash, current_password or ""):
            raise PermissionDenied("The current password is wrong; the password was not changed.")
        was_locked = bool(user.locked_until and user.locked_until > utcnow())
        user.password_hash = hash_password(new_password)
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        _revoke_all(session, user.id)
        audit.record(session=session, actor=actor, action="user.set_password", target_type="user", target_id=name,
                     detail="all open logins ended" + ("; the lock from failed logins lifted" if was_locked else ""))


def _revoke_all(session: Session, user_id: int) -> None:
    now = utcnow()
    for login in session.exec(select(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at == None)):  # noqa: E711
        login.revoked_at = now
        session.add(login)
