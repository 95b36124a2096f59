"""The login gate: local accounts, optional OpenID Connect via st.login, and the per-page role check."""
from __future__ import annotations

import streamlit as st

from core.governance import logins
from core.governance.roles import Actor, Permission
from core.governance.users import UserInfo
from workbench import services
from workbench.ui import errors

TOKEN_KEY = "auth.token"
NOTICE_KEY = "auth.notice"


def _secrets_section(name: str) -> dict | None:
    try:
        return dict(st.secrets[name]) if name in st.secrets else None
    except Exception:  # no secrets.toml at all: SSO is simply not configured
        return None


def sso_configured() -> bool:
    return _secrets_section("auth") is not None


def current_user() -> UserInfo | None:
    """The logged-in user, or None. An expired or revoked login is dropped with a notice."""
    token = st.session_state.get(TOKEN_KEY)
    user = logins.resume(services.store(), token) if token else None
    if token and user is None:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state[NOTICE_KEY] = "Your session has ended (expired, logged out elsewhere or account changed); please log in again."
    if user is None and sso_configured() and getattr(st.user, "is_logged_in", False):
        user = _adopt_sso_identity()
    return user


def _adopt_sso_identity() -> UserInfo | None:
    mapping_config = _secrets_section("workbench_roles") or {}
    groups_claim = mapping_config.get("groups_claim", "groups")
    with errors.shown_to_user():
        login = logins.log_in_sso(
            services.store(), email=st.user.get("email"), display_name=st.user.get("name"),
            groups=list(st.user.get(groups_claim) or []), mapping=logins.RoleMapping.from_config(mapping_config),
        )
        st.session_state[TOKEN_KEY] = login.token
        return login.user
    return None


def login_page() -> None:
    st.title("LLMOps Workbench")
    st.caption("Data, prompts, fine-tunes, human feedback, evaluation and monitoring of your language models, in one place.")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice)
    with st.form("auth.login_form"):
        st.subheader("Log in")
        name = st.text_input("User name", key="auth.name")
        password = st.text_input("Password", type="password", key="auth.password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        with errors.shown_to_user():
            login = logins.log_in(services.store(), name=name, password=password)
            st.session_state[TOKEN_KEY] = login.token
            st.rerun()
    if sso_configured():
        st.divider()
        if st.button("Log in with single sign-on"):
            st.login()
    else:
        st.caption("The first admin's password is in initial_admin_password.txt in the workbench home.")


def log_out() -> None:
    logins.log_out(services.store(), st.session_state.pop(TOKEN_KEY, None))
    if sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()
    st.rerun()


def require_page(permission: Permission | None) -> Actor:
    """First line of every page: stops the page unless the user is logged in and the role allows it."""
    user = current_user()
    if user is None:
        st.warning("Log in first: open the workbench's start page and log in.")
        st.stop()
    actor = user.as_actor()
    if permission is not None and not actor.can(permission):
        st.error(f"Not authorised: your role ({actor.role.label}) may not use this page.")
        st.caption("Ask an admin for a role that allows it.")
        st.stop()
    return actor


def describe(user: UserInfo) -> str:
    return f"{user.name} · {user.role.label}"

