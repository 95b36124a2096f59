"""The optional alert webhook: a JSON POST to one allow-listed URL, off the caller's thread, with timeout and retries.

Configured by the environment (the workbench's settings are environment variables):
  WORKBENCH_ALERT_WEBHOOK_URL    where new alerts are posted (http or https)
  WORKBENCH_ALERT_WEBHOOK_HOSTS  comma-separated host names the URL may point at; a URL whose host is not listed
                                 is never called (the alert records why)
A failing webhook never blocks or fails a monitor run: it is retried a few times in a daemon thread and its
outcome is written on the alert (`webhook_status`).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
ATTEMPTS = 3
BACKOFF_S = 1.0


@dataclass(frozen=True)
class WebhookSettings:
    url: str = ""
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> "WebhookSettings":
        hosts = os.environ.get("WORKBENCH_ALERT_WEBHOOK_HOSTS", "")
        return cls(url=os.environ.get("WORKBENCH_ALERT_WEBHOOK_URL", "").strip(),
                   allowed_hosts=tuple(h.strip().lower() for h in hosts.split(",") if h.strip()))

    def refusal(self) -> str | None:
        """Why the URL may not be called, or None when it may."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "refused: the webhook URL is not an http(s) URL"
        if parts.hostname.lower() not in self.allowed_hosts:
            return f"refused: host {parts.hostname} is not in WORKBENCH_ALERT_WEBHOOK_HOSTS"
        return None


def post(url: str, payload: dict, *, attempts: int = ATTEMPTS, timeout_s: float = TIMEOUT_S,
         backoff_s: float = BACKOFF_S) -> str:
    """POST `payload` as JSON; returns a short status ("delivered (HTTP 200)" or "failed after 3 attempts: ...")."""
    body = json.dumps(payload, default=str).encode()
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "llmops-workbench"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (allow-listed URL)
                return f"delivered (HTTP {response.status})"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the receiver refuses this payload; retrying will not help
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))[:120]
        if attempt < attempts:
            time.sleep(backoff_s * attempt)
    return f"failed after {attempt} attempt{'s' if attempt > 1 else ''}: {last}"[:200]


def send_in_background(settings: WebhookSettings, payload: dict, on_done: Callable[[str], None]) -> threading.Thread | None:
    """Starts the delivery in a daemon thread and returns it (None when no webhook is configured)."""
    if not settings.url:
        return None
    refusal = settings.refusal()
    if refusal:
        on_done(refusal)
        return None

    def deliver() -> None:
        status = post(settings.url, payload)
        try:
            on_done(status)
        except Exception:  # the outcome is informative only; a closed store must not crash the thread
            log.warning("could not record the webhook outcome %r", status, exc_info=True)

    thread = threading.Thread(target=deliver, name="alert-webhook", daemon=True)
    thread.start()
    return thread
