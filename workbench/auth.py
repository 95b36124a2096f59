"""The login gate: local accounts, optional OpenID Connect via st.login, and the per-page role check."""
from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from core.governance import logins
from core.governance.roles import Actor, Permission
from core.governance.users import UserInfo
from workbench import login_cookie, services
from workbench.ui import errors

TOKEN_KEY = "auth.token"
NOTICE_KEY = "auth.notice"
STALE_COOKIE_KEY = "auth.stale_cookie"


def _secrets_section(name: str) -> dict | None:
    try:
        return dict(st.secrets[name]) if name in st.secrets else None
    except Exception:  # no secrets.toml at all: SSO is simply not configured
        return None


def sso_configured() -> bool:
    return _secrets_section("auth") is not None


def current_user() -> UserInfo | None:
    """The logged-in user, or None. The login comes from this session or from the login cookie (a reload, another
    tab, a shared link); an expired or revoked login is dropped with a notice."""
    token = st.session_state.get(TOKEN_KEY)
    from_cookie = False
    if not token:
        token = _cookie_token()
        from_cookie = token is not None
    user = logins.resume(services.store(), token) if token else None
    if token and user is None:
        st.session_state.pop(TOKEN_KEY, None)
        if not (from_cookie and st.session_state.get(STALE_COOKIE_KEY)):
            st.session_state[NOTICE_KEY] = ("Your session has ended (expired, logged out elsewhere or account "
                                            "changed); please log in again.")
        if from_cookie:
            st.session_state[STALE_COOKIE_KEY] = True  # say it once, not on every rerun of the login form
    elif user is not None:
        st.session_state[TOKEN_KEY] = token
    if user is None and sso_configured() and getattr(st.user, "is_logged_in", False):
        user = _adopt_sso_identity()
    return user


def _cookie_token() -> str | None:
    if not login_cookie.routes_mounted:
        return None
    try:
        return st.context.cookies.get(login_cookie.COOKIE) or None
    except Exception:  # noqa: BLE001 - no request behind this run (AppTest)
        return None


def _current_path() -> str:
    try:
        return login_cookie.safe_next(urlsplit(st.context.url or "/").path)
    except Exception:  # noqa: BLE001
        return "/"


def _send_browser_to(url: str) -> None:
    """Sends the browser to a URL of this server, the way st.login and st.logout do (the only way a script can
    make the browser load a page, which is what sets or clears a cookie)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    message = ForwardMsg()
    message.auth_redirect.url = url
    ctx.enqueue(message)


def _remember(login: logins.Login, *, rerun: bool = True) -> None:
    """Keeps the login in this session and, where the web server has the cookie routes, in the cookie."""
    st.session_state[TOKEN_KEY] = login.token
    st.session_state.pop(STALE_COOKIE_KEY, None)
    if login_cookie.routes_mounted:
        code = login_cookie.hand_off(login.token, login.expires_at, _current_path())
        _send_browser_to(f"{login_cookie.SESSION_PATH}?code={code}")
        st.stop()
    if rerun:
        st.rerun()


def _adopt_sso_identity() -> UserInfo | None:
    mapping_config = _secrets_section("workbench_roles") or {}
    groups_claim = mapping_config.get("groups_claim", "groups")
    with errors.shown_to_user():
        login = logins.log_in_sso(
            services.store(), email=st.user.get("email"), display_name=st.user.get("name"),
            groups=list(st.user.get(groups_claim) or []), mapping=logins.RoleMapping.from_config(mapping_config),
        )
        _remember(login, rerun=False)
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
            _remember(login)
    if sso_configured():
        st.divider()
        if st.button("Log in with single sign-on"):
            st.login()
    # Where the first admin's password lives is said only in the terminal that started the workbench, not to
    # every visitor of this page.
    st.caption("No account yet? Ask your workbench admin.")


def log_out() -> None:
    """Ends the login in the database (so the cookie is worthless everywhere) and clears the cookie."""
    logins.log_out(services.store(), st.session_state.pop(TOKEN_KEY, None))
    st.session_state[STALE_COOKIE_KEY] = True  # until the browser has dropped it
    if sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()
    elif login_cookie.routes_mounted:
        _send_browser_to(login_cookie.LOGOUT_PATH)
        st.stop()
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

