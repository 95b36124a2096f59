"""Logging in and out: password checks with lockout, expiring login sessions, and single sign-on accounts."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import select

from core.errors import InvalidInput, PermissionDenied
from core.governance import audit
from core.governance.roles import SYSTEM, Actor, Role
from core.governance.users import UserInfo, hash_password, validate_name, verify_password
from core.storage.db import Store
from core.storage.tables import LoginSession, User, utcnow

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True)
class Login:
    token: str
    user: UserInfo
    expires_at: datetime


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _open(session, user: User, provider: str, ttl_minutes: int) -> Login:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(minutes=ttl_minutes)
    session.add(LoginSession(token_hash=_hash_token(token), user_id=user.id, provider=provider, created_at=now, expires_at=expires))
    user.last_login_at = now
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    audit.record(session=session, actor=Actor(user.name, Role(user.role), user.id), action="login",
                 target_type="user", target_id=user.name, detail=provider)
    return Login(token=token, user=UserInfo.of(user), expires_at=expires)


def log_in(store: Store, *, name: str, password: str) -> Login:
    """Checks a local password; one message for every failure so names cannot be guessed. Every failure leaves an
    audit row (the name as typed and why, never the password); the fifth in a row locks the account."""
    wrong = PermissionDenied("Wrong user name or password.")
    name = (name or "").strip()
    if not name or not password:
        raise InvalidInput("Enter a user name and a password.")
    with store.write() as session:
        user = session.exec(select(User).where(User.name == name)).first()

        def fail(reason: str, error: Exception) -> None:
            # The failed attempt must be recorded even though the login fails: commit, then raise.
            audit.record_visitor(session=session, action="login.failed", typed_name=name, detail=reason)
            session.commit()
            raise error

        if user is None:
            verify_password(_DUMMY_HASH, password)
            fail("no account has this name", wrong)
        now = utcnow()
        if user.locked_until and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            fail("the account is locked",
                 PermissionDenied(f"Too many failed logins for '{name}'; try again in {minutes} minute(s)."))
        if user.locked_until:  # a lock that has run out
            user.locked_until = None
            audit.record(session=session, actor=SYSTEM.acting_through("login"), action="user.unlock",
                         target_type="user", target_id=name, detail=f"the {_minutes(LOCKOUT)}-minute lock ran out")
        if not verify_password(user.password_hash, password):
            user.failed_logins += 1
            reason = f"wrong password (failed attempt {user.failed_logins} of {MAX_FAILED_LOGINS})"
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
                audit.record(session=session, actor=SYSTEM.acting_through("login"), action="user.lock",
                             target_type="user", target_id=name,
                             detail=f"{MAX_FAILED_LOGINS} failed logins in a row; locked for {_minutes(LOCKOUT)} minutes")
            session.add(user)
            fail(reason, wrong)
        if not user.active:
            fail("the account is disabled",
                 PermissionDenied(f"The account '{name}' is disabled; ask an admin to enable it."))
        return _open(session, user, "local", store.settings.session_ttl_minutes)


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def resume(store: Store, token: str | None) -> UserInfo | None:
    """The user behind a login token, or None when it is unknown, expired, revoked or its account disabled."""
    if not token:
        return None
    with store.read() as session:
        row = session.exec(
            select(LoginSession, User).join(User, LoginSession.user_id == User.id)
            .where(LoginSession.token_hash == _hash_token(token))
        ).first()
    if row is None:
        return None
    login, user = row
    if login.revoked_at is not None or login.expires_at <= utcnow() or not user.active:
        return None
    return UserInfo.of(user)


def log_out(store: Store, token: str | None) -> None:
    if not token:
        return
    with store.write() as session:
        row = session.exec(
            select(LoginSession, User).join(User, LoginSession.user_id == User.id)
            .where(LoginSession.token_hash == _hash_token(token))
        ).first()
        if row is None or row[0].revoked_at is not None:
            return
        login, user = row
        login.revoked_at = utcnow()
        session.add(login)
        audit.record(session=session, actor=Actor(user.name, Role(user.role), user.id), action="logout",
                     target_type="user", target_id=user.name)


@dataclass(frozen=True)
class RoleMapping:
    """How single sign-on identities get a role: by e-mail first, then by group (highest role wins)."""

    emails: dict[str, Role] = field(default_factory=dict)
    groups: dict[str, Role] = field(default_factory=dict)
    default: Role | None = None  # None: identities that match nothing are refused

    @classmethod
    def from_config(cls, config: dict | None) -> "RoleMapping":
        config = dict(config or {})
        default = config.get("default_role")
        return cls(
            emails={k.lower(): Role.parse(v) for k, v in dict(config.get("emails", {})).items()},
            groups={k: Role.parse(v) for k, v in dict(config.get("groups", {})).items()},
            default=Role.parse(default) if default else None,
        )

    def role_for(self, email: str | None, groups: list[str] | None = None) -> Role | None:
        if email and email.lower() in self.emails:
            return self.emails[email.lower()]
        ranked = [self.groups[g] for g in groups or [] if g in self.groups]
        if ranked:
            order = list(Role)  # declaration order is highest first
            return min(ranked, key=order.index)
        return self.default


def log_in_sso(store: Store, *, email: str, display_name: str | None, groups: list[str] | None, mapping: RoleMapping) -> Login:
    """Logs in an identity vouched for by the OpenID Connect provider, creating or updating its account."""
    if not email or "@" not in email:
        raise PermissionDenied("The identity provider did not give an e-mail address; the workbench needs one.")
    role = mapping.role_for(email, groups)
    if role is None:
        raise PermissionDenied(f"{email} has no workbench role; ask an admin to add it to the role mapping.")
    with store.write() as session:
        user = session.exec(select(User).where(User.email == email.lower(), User.auth_provider == "oidc")).first()
        if user is None:
            name = _free_name(session, email.split("@")[0])
            user = User(name=name, role=role.value, email=email.lower(), auth_provider="oidc")
            session.add(user)
            session.flush()
            audit.record(session=session, actor=SYSTEM, action="user.create", target_type="user", target_id=name,
                         after={"role": role.value, "email": user.email, "provider": "oidc"}, detail=display_name)
        elif user.role != role.value:
            before = {"role": user.role}
            user.role = role.value
            audit.record(session=session, actor=SYSTEM, action="user.set_role", target_type="user", target_id=user.name,
                         before=before, after={"role": role.value}, detail="from the single sign-on role mapping")
        if not user.active:
            raise PermissionDenied(f"The account '{user.name}' is disabled; ask an admin to enable it.")
        return _open(session, user, "oidc", store.settings.session_ttl_minutes)


def _free_name(session, wanted: str) -> str:
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in wanted)[:56] or "user"
    if len(base) < 2:
        base = f"{base}-user"
    candidate, n = base, 1
    while session.exec(select(User).where(User.name == candidate)).first():
        n += 1
        candidate = f"{base}-{n}"
    return validate_name(candidate)
