"""Browser journeys: a workbench home with one account per role, the app as a real `streamlit run` process,
and a headless Chromium (Debian's, never a downloaded one) driven by Playwright.

The app starts once per test session; every test gets fresh browser contexts, so fresh Streamlit sessions.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import demo
from core.governance import users
from core.governance.roles import SYSTEM, Role
from core.home import open_store
from core.models import bundled
from core.settings import Settings
from tests.conftest import PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".test-artifacts"
DOC_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"

# One account per role, all with tests.conftest.PASSWORD.
ACCOUNTS = {"ada": Role.ADMIN, "dan": Role.DATA_SCIENTIST, "ann": Role.ANNOTATOR, "vic": Role.VIEWER}

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000  # Streamlit renders asynchronously; every wait is Playwright's auto-waiting up to this
STARTUP_TIMEOUT_S = 60
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Streamlit prints tracebacks in colour


class ScriptRuns:
    """Follows one tab's Streamlit connection, to wait for the end of the script run an action caused.

    Streamlit's own marker in the page (data-test-script-state) can skip a run that is quicker than a frame, so
    the wait reads the server's messages instead (ForwardMsg.script_finished). A run cut short by st.rerun()
    (a login, a log-out) does not count: the run that follows it does."""

    def __init__(self, page) -> None:
        self.socket = None
        self.page = page
        page.on("websocket", self._attach)

    def _attach(self, socket) -> None:
        if socket.url.endswith("/_stcore/stream"):
            self.socket = socket  # a page load opens a new connection

    @staticmethod
    def is_run_end(payload) -> bool:
        if not isinstance(payload, (bytes, bytearray)):
            return False
        from google.protobuf.message import DecodeError
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            message = ForwardMsg.FromString(bytes(payload))
        except DecodeError:
            return False
        return (message.WhichOneof("type") == "script_finished"
                and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN)

    def wait_after(self, action, timeout_ms: float = TIMEOUT_MS) -> None:
        """Does `action` and returns once the script run it caused has finished on the server."""
        if self.socket is None:
            raise AssertionError("the page has no Streamlit connection yet; load it first")
        # A run may also send the browser to another URL (logging in or out sets or clears the login cookie):
        # then the connection closes and the page loads afresh, which the caller's next wait covers.
        socket, ended = self.socket, []
        on_frame = lambda payload: self.is_run_end(payload) and ended.append("run")  # noqa: E731
        on_close = lambda _socket: ended.append("closed")  # noqa: E731
        socket.on("framereceived", on_frame)
        socket.on("close", on_close)
        try:
            action()
            deadline = time.monotonic() + timeout_ms / 1000
            # A new connection also ends the wait: the page loaded afresh, even where the old one's close event
            # was not delivered (seen once under CI load).
            while not ended and self.socket is socket:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no script run finished within {timeout_ms / 1000:.0f} s of the action")
                self.page.wait_for_timeout(25)
        finally:
            socket.remove_listener("framereceived", on_frame)
            socket.remove_listener("close", on_close)


def script_runs(page) -> ScriptRuns:
    return page.e2e_script_runs


@dataclass(frozen=True)
class RunningApp:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    home: Path
    log: Path
    process: subprocess.Popen

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        """What the app printed after `offset`, without colour codes."""
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return ANSI_CODES.sub("", handle.read().decode("utf-8", "replace"))


@pytest.fixture(scope="session")
def e2e_home(shared_models_dir) -> Iterator[Path]:
    """A migrated workbench home on SQLite in a fresh temporary folder: one account per role, the bundled
    models registered (the home's models folder is a link to the session's converted copy), and the demo
    datasets 'support-tickets' and 'support-chat-sft' imported through the real import path."""
    folder = Path(tempfile.mkdtemp(prefix="workbench-e2e-")) / "home"
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("WORKBENCH_HOME", str(folder))
            env.delenv("WORKBENCH_DATABASE_URL", raising=False)
            settings = Settings.from_env()
        store = open_store(settings)
        try:
            store.settings.models_dir.rmdir()
            store.settings.models_dir.symlink_to(shared_models_dir, target_is_directory=True)
            bundled.install_bundled_models(store)
            for name, role in ACCOUNTS.items():
                users.create_user(store, actor=SYSTEM, name=name, role=role, password=PASSWORD)
            demo.seed_datasets(store, actor=SYSTEM)
        finally:
            store.dispose()
        yield folder
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def app_server(e2e_home) -> Iterator[RunningApp]:
    """`streamlit run workbench/web.py` (the app with its login-cookie routes, as `workbench run` starts it) on a
    free loopback port, until the session ends."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = ARTIFACTS / "e2e" / "streamlit.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WORKBENCH_HOME": str(e2e_home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("WORKBENCH_DATABASE_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", "workbench/web.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"the app exited with status {process.returncode} while starting; log {log}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer {url}/_stcore/health within {STARTUP_TIMEOUT_S} s; "
                            f"log {log}:\n{_tail(log)}")
            time.sleep(0.25)
        yield RunningApp(url=url, home=e2e_home, log=log, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no `chromium` on PATH: `make test` installs Debian's chromium package with apt-get "
                    "(scripts/test-deps.sh); the browser tests never download one")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test, and adds what the app logged to a failed test's report."""
    report = yield
    setattr(item, f"e2e_report_{report.when}", report)
    logged = getattr(item, "e2e_log", None)
    if report.failed and logged is not None:
        app, offset = logged
        text = app.log_since(offset).strip()
        if text:
            report.sections.append(("app log during this test", text[-6000:]))
    return report


@pytest.fixture
def new_page(request, browser, app_server) -> Iterator[Callable[[], object]]:
    """Opens a page in a fresh browser context (its own Streamlit session) that follows its script runs
    (ScriptRuns); all are closed after the test.

    After a test that passed, the app's log must hold no new traceback: the pages turn unexpected exceptions
    into a friendly sentence, so the log is where a hidden failure shows."""
    contexts = []
    log_offset = app_server.log_size()
    request.node.e2e_log = (app_server, log_offset)

    def open_page():
        context = browser.new_context(base_url=app_server.url, viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.e2e_script_runs = ScriptRuns(page)
        return page

    yield open_page
    for context in contexts:
        context.close()
    call = getattr(request.node, "e2e_report_call", None)
    if call is None or not call.passed:
        return  # a failure or an expected failure is reported already, with the log attached
    new_log = app_server.log_since(log_offset)
    assert "Traceback" not in new_log, \
        f"the app logged an error during the test:\n{new_log[-4000:]}"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """docs/screenshots when WORKBENCH_UPDATE_SCREENSHOTS=1 (the README shows them), else a gitignored folder."""
    folder = DOC_SCREENSHOTS if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1" else ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
