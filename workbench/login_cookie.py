"""Staying logged in: the login token in a secure, HttpOnly, SameSite cookie set by the workbench's own web server.

A Streamlit script talks to the browser over a websocket and cannot set cookies, least of all HttpOnly ones, so two
small routes run beside Streamlit on the same server (workbench/web.py builds it with `st.App(routes=...)`):

- after a successful login the page sends the browser to `/workbench/session?code=...`. The code is a one-time
  hand-off (random, single use, valid for a minute, kept in this process's memory): the route exchanges it for the
  login token, sets the cookie and sends the browser back to the page it came from. The token itself never
  appears in a URL, and only its hash is stored in the database (core/governance/logins.py);
- logging out sends the browser to `/workbench/logout`, which clears the cookie.

The page reads the cookie from the websocket's handshake (`st.context.cookies`), so a reload, a second tab or a
link from a colleague stays logged in until the login expires, is logged out, or its account's password changes or
the account is disabled (each of which revokes the token in the database).
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

COOKIE = "workbench_login"
SESSION_PATH = "/workbench/session"
LOGOUT_PATH = "/workbench/logout"
HANDOFF_SECONDS = 60

# True once workbench/web.py has mounted the routes in this process (a plain `streamlit run workbench/app.py`, or
# AppTest, has no such routes, so the pages keep the login in the session only).
routes_mounted = False


@dataclass(frozen=True)
class _Handoff:
    token: str
    expires_at: datetime
    next_path: str
    deadline: float


_handoffs: dict[str, _Handoff] = {}
_lock = threading.Lock()


def _key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def safe_next(path: str | None) -> str:
    """A path on this server to return to: never another site (no scheme, host or '//')."""
    if not path:
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path


def hand_off(token: str, expires_at: datetime, next_path: str | None = None) -> str:
    """A one-time code the browser exchanges for the cookie within HANDOFF_SECONDS."""
    code = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _lock:
        for key in [k for k, h in _handoffs.items() if h.deadline < now]:
            del _handoffs[key]
        _handoffs[_key(code)] = _Handoff(token, expires_at, safe_next(next_path), now + HANDOFF_SECONDS)
    return code


def take(code: str | None) -> _Handoff | None:
    """The hand-off behind a code, once; None when unknown, used or too old."""
    if not code:
        return None
    with _lock:
        handoff = _handoffs.pop(_key(code), None)
    if handoff is None or handoff.deadline < time.monotonic():
        return None
    return handoff


def _secure(request) -> bool:
    """Secure cookies need HTTPS, or localhost, which browsers treat as a secure context."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    host = (request.url.hostname or "").lower()
    return request.url.scheme == "https" or forwarded == "https" or host in ("localhost", "127.0.0.1", "::1")


async def session_route(request):
    from starlette.responses import PlainTextResponse, RedirectResponse

    handoff = take(request.query_params.get("code"))
    if handoff is None:
        return PlainTextResponse("This login link has expired or was used already; log in again.", status_code=400)
    response = RedirectResponse(handoff.next_path, status_code=303)
    max_age = max(0, int((handoff.expires_at - datetime.now(timezone.utc)).total_seconds()))
    response.set_cookie(COOKIE, handoff.token, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=_secure(request))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def logout_route(request):
    from starlette.responses import RedirectResponse

    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    response.headers["Cache-Control"] = "no-store"
    return response


def routes() -> list:
    from starlette.routing import Route

    return [Route(SESSION_PATH, session_route, methods=["GET"]), Route(LOGOUT_PATH, logout_route, methods=["GET"])]
