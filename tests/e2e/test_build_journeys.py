"""Browser journeys through the pages that build on models and data: Prompts (a template, a second version, its
diff and a preview that shows typed values as plain text), Compare (two prompt versions x the bundled model on a
typed input, then the saved run reopened) and Fine-tune (the quick check preset's pre-flight; a viewer watches
the jobs only; a quick check launched for real, watched live and cancelled); and their README screenshots.

The helpers are the ones of test_journeys.py: every step waits for the script run it caused to finish.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import psutil
import pytest
from playwright.sync_api import Locator, Page, expect

from core.finetune import preflight
from core.governance.roles import SYSTEM
from core.home import open_store
from core.jobs import launcher, queue
from core.prompts import templates
from core.settings import Settings
from core.storage.db import Store
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_journeys import (after_run, assert_no_error, choose, click_nav, expect_page, grid_cell,
                                     grid_with_columns, log_in, main, open_by_url, scroll_to_top, selectbox,
                                     selectbox_options, wait_until_idle)

pytestmark = pytest.mark.e2e

XSS = "<img src=x onerror=alert(1)>"
# Loading the bundled model and generating on a small, busy machine.
MODEL_RUN_MS = 240_000
CHECK_MS = 120_000
# A real quick-check job on the CPU, from logging in to cancelled: the long waits share this budget (the worker and
# the job process start, torch loads, the model and data are prepared; a step takes seconds on 2 cores).
JOB_JOURNEY_S = 300


# --- helpers -------------------------------------------------------------------------------------------------


def visible(locator: Locator) -> Locator:
    return locator.filter(visible=True)


def textbox(page: Page, label: str) -> Locator:
    return visible(main(page).get_by_role("textbox", name=label, exact=True))


def create_template(page: Page, name: str, body: str) -> None:
    """Through the Prompts page's "New template" form."""
    form = main(page).get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Create template"))
    name_box = form.get_by_role("textbox", name="Template name", exact=True)
    if not name_box.is_visible():
        main(page).get_by_text("New template", exact=True).click()
    expect(name_box).to_be_visible()
    name_box.fill(name)
    form.get_by_role("textbox", name="User message", exact=True).fill(body)
    after_run(page, form.get_by_role("button", name="Create template", exact=True).click)
    assert_no_error(page)
    expect(main(page).get_by_test_id("stAlertContentSuccess")).to_have_text(f"Created {name}@1.")


def set_text(page: Page, box: Locator, text: str, commit: str = "Enter") -> None:
    box.fill(text)
    after_run(page, lambda: box.press(commit))
    expect(box).to_have_value(text)


@contextmanager
def home_store(home) -> Iterator[Store]:
    """The store of the app's home, opened through the core as the CLI would."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKBENCH_HOME", str(home))
        env.delenv("WORKBENCH_DATABASE_URL", raising=False)
        settings = Settings.from_env()
    store = open_store(settings)
    try:
        yield store
    finally:
        store.dispose()


def seed_template(home, name: str, bodies: list[str]) -> None:
    """Versions of template `name` written through the core, in the app's home (the Compare journey's input)."""
    with home_store(home) as store:
        for body in bodies:
            templates.save_version(store, actor=SYSTEM, name=name, body=body)


def pick_in_multiselect(page: Page, label: str, option: str) -> None:
    box = visible(main(page).get_by_role("combobox", name=label))
    box.evaluate("node => node.scrollIntoView({block: 'center'})")
    box.click()
    after_run(page, page.get_by_role("option", name=option, exact=True).click)
    page.keyboard.press("Escape")


def run_comparison(page: Page, template: str, run_name: str) -> None:
    pick_in_multiselect(page, "Prompt versions", f"{template}@1")
    pick_in_multiselect(page, "Prompt versions", f"{template}@2")
    set_text(page, visible(main(page).get_by_role("textbox", name="text", exact=True)),
             "The printer on floor 3 jams.", commit="Control+Enter")
    main(page).get_by_text("Generation settings (greedy, 128 new tokens)").click()
    tokens = visible(main(page).get_by_role("spinbutton", name="Max new tokens", exact=True))
    set_text(page, tokens, "8")
    # The title follows the values, and the settings stay open while they are edited.
    expect(main(page).get_by_text("Generation settings (greedy, 8 new tokens)")).to_be_visible()
    set_text(page, textbox(page, "Name of the run (optional)"), run_name)
    after_run(page, main(page).get_by_role("button", name="Run", exact=True).click)
    assert_no_error(page)
    # The comparison runs as a job: the page watches it (a fragment, every 2 s) until it has saved the run, then
    # reruns with the run opened and says so (or says how the job ended).
    saved = main(page).get_by_test_id("stAlertContentSuccess")
    ended = main(page).get_by_test_id("stAlertContentWarning").filter(has_text="The comparison job ")
    expect(saved.or_(ended).first).to_be_visible(timeout=MODEL_RUN_MS)
    wait_until_idle(page)
    assert_no_error(page)
    expect(ended).to_have_count(0)
    expect(saved).to_contain_text(f": {run_name}.")
    expect(textbox(page, "Name of the run (optional)")).to_have_value("")  # a new run starts unnamed


def expect_run_shown(page: Page, template: str) -> None:
    assert_no_error(page)
    expect(main(page).get_by_text("Summary per prompt · model")).to_be_visible()
    expect(main(page).get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible()
    grid = main(page).get_by_test_id("stDataFrame").filter(has_text="The printer on floor 3 jams.")
    expect(grid.first).to_be_attached()
    for version in (f"{template}@1", f"{template}@2"):
        expect(main(page).get_by_test_id("stDataFrame").filter(has_text=version).first).to_be_attached()
    expect(main(page).get_by_text("Outputs are shown as plain text.")).to_be_visible()


def check_quick_preset(page: Page) -> None:
    """The Launch tab, the quick check preset on the demo chat set, Check."""
    page.get_by_role("tab", name="Launch", exact=True).click()
    choose(page, "Preset", "Quick check")
    choose(page, "Dataset", "support-chat-sft@1")
    after_run(page, main(page).get_by_role("button", name="Check", exact=True).click, CHECK_MS)
    assert_no_error(page)
    expect(main(page).get_by_role("heading", name="Pre-flight")).to_be_visible()
    gpu = bool(preflight.cuda_devices())  # the app runs on this machine
    if not gpu:
        warnings = main(page).get_by_test_id("stAlertContentWarning")
        expect(warnings.filter(has_text="No CUDA GPU here: the job runs on CPU").first).to_be_visible()
    for label in ("Optimizer steps", "Time", "GPU memory" if gpu else "Memory", "Trained tokens"):
        expect(main(page).get_by_test_id("stMetricLabel").get_by_text(label, exact=True)).to_be_visible()
    expect(main(page).get_by_test_id("stMetricValue").first).to_have_text("30")
    expect(main(page).get_by_text("; it assumes about 4 characters per token")).to_be_visible()


class Budget:
    """One time budget shared by several waits: each gets what is left (never less than a second)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def ms(self) -> float:
        return max(self.deadline - time.monotonic(), 1.0) * 1000


def jobs_table_cell(page: Page, job_id: int, column: str) -> Locator:
    """The Jobs tab's table cell in `column` of job `job_id` (the table is drawn afresh by every full run)."""
    table = grid_with_columns(page, "Job", "Name", "Status", "Launched by")
    expect(table).to_have_count(1)
    expect(table.locator("thead th").get_by_text(column, exact=True)).to_be_attached()
    return grid_cell(table, "Job", str(job_id), column)


STEP_TEXT = re.compile(r"Step (\d[\d,]*) of (\d[\d,]*)")


def shown_step(progress: Locator, timeout_ms: float) -> int:
    """The step the live progress bar shows ("Step N of M · ..."), once it shows one."""
    expect(progress).to_contain_text(STEP_TEXT, timeout=timeout_ms)
    found = STEP_TEXT.search(progress.inner_text())
    assert found, f"the progress bar no longer shows a step: {progress.inner_text()!r}"
    return int(found.group(1).replace(",", ""))


def live_processes(pid: int) -> list[psutil.Process]:
    """The process `pid` and the rest of its process group (a job runs in a group of its own), zombies aside."""
    found = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if process.pid == pid or os.getpgid(process.pid) == pid:
                found.append(process)
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            continue
    return found


def wait_until_gone(pid: int, timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while (left := live_processes(pid)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


def cancel_leftovers(home, before: set[int], pids: dict[int, int]) -> None:
    """Cancels every job this test made that is still queued or running, and stops any process of theirs that is
    still there (`pids`: job id -> the pid seen while it ran): no training outlives the test."""
    with home_store(home) as store:
        for job in queue.list_jobs(store, actor=SYSTEM):
            if job.id in before:
                continue
            if job.status in queue.ACTIVE:
                try:
                    queue.cancel(store, actor=SYSTEM, job_id=job.id, stop=launcher.stop)
                except Exception as exc:  # noqa: BLE001 - a clean-up; the test's own failure is the one to report
                    print(f"clean-up could not cancel job {job.id}: {exc}")
            for pid in {job.pid, pids.get(job.id)} - {None}:
                launcher.stop(replace(job, pid=pid), grace_s=10)  # nothing to do once it is gone


def keep_failure_screenshot(page: Page, name: str) -> None:
    """What the page showed when a journey failed, in .test-artifacts/e2e (best effort)."""
    try:
        folder = ARTIFACTS / "e2e"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True, timeout=10_000)
    except Exception:  # noqa: BLE001 - the failure being reported matters more than its picture
        pass


def shoot(page: Page, folder, name: str):
    wait_until_idle(page)
    assert_no_error(page)
    page.evaluate("document.fonts.ready.then(() => true)")
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


# --- tests ---------------------------------------------------------------------------------------------------


def test_a_data_scientist_writes_a_template_versions_it_diffs_and_previews(new_page):
    name = "e2e-ticket-summary"
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Prompts")
    expect_page(page, "prompts", "dan")
    create_template(page, name, "Summarise this ticket:\n{{ body }}")
    expect(selectbox(page, "Template")).to_have_value(name)
    expect(selectbox(page, "Version")).to_have_value("1")

    # Version 2: the body edited, with a note, saved.
    body = textbox(page, "User message")
    body.fill("Summarise this ticket in one line:\n{{ body }}")
    after_run(page, lambda: body.press("Control+Enter"))
    set_text(page, textbox(page, "What changed"), "one line")
    after_run(page, main(page).get_by_role("button", name="Save as new version", exact=True).click)
    assert_no_error(page)
    expect(main(page).get_by_test_id("stAlertContentSuccess")).to_have_text(f"Saved {name}@2.")
    # The save selects the new version.
    expect(selectbox(page, "Version")).to_have_value("2")
    expect(textbox(page, "User message")).to_have_value("Summarise this ticket in one line:\n{{ body }}")

    # The diff of 1 -> 2.
    page.get_by_role("tab", name="Diff", exact=True).click()
    expect(main(page).get_by_text("1 line(s) added, 1 removed.")).to_be_visible()
    code = main(page).get_by_test_id("stCode").filter(has_text="+Summarise this ticket in one line:")
    expect(code).to_have_count(1)
    expect(code).to_contain_text("-Summarise this ticket:")

    # The preview fills a typed value in.
    page.get_by_role("tab", name="Edit & preview", exact=True).click()
    expect(main(page).get_by_text("Variables: body")).to_be_visible()
    set_text(page, textbox(page, "body"), "Printer jams on floor 3")
    preview = visible(main(page).get_by_test_id("stText"))
    expect(preview.filter(has_text="Printer jams on floor 3")).to_have_text(
        "Summarise this ticket in one line:\nPrinter jams on floor 3")

    # Markup in a value is text, never an element.
    images_before = page.locator("img").count()
    set_text(page, textbox(page, "body"), XSS)
    expect(preview.filter(has_text=XSS)).to_have_count(1)
    expect(page.locator("img[src='x']")).to_have_count(0)
    assert page.locator("img").count() == images_before
    page.get_by_role("tab", name="With the model's chat template", exact=True).click()
    expect(visible(main(page).get_by_test_id("stCode")).filter(has_text=XSS).first).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)
    assert_no_error(page)


@pytest.mark.slow
def test_a_data_scientist_compares_two_versions_with_the_bundled_model_and_reopens_the_run(new_page, app_server):
    template, run_name = "e2e-compare", "e2e comparison"
    seed_template(app_server.home, template, ["Summarise: {{ text }}", "In three words: {{ text }}"])
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Compare")
    expect_page(page, "compare", "dan")
    run_comparison(page, template, run_name)
    expect_run_shown(page, template)

    # Reopened from "Saved runs" in a fresh run of the page.
    open_by_url(page, "/account")
    open_by_url(page, "/compare")
    expect_page(page, "compare", "dan")
    label = next(option for option in selectbox_options(page, "Run") if f" {run_name} · " in option)
    choose(page, "Run", label)
    expect_run_shown(page, template)


def test_a_data_scientist_checks_the_quick_preset_and_a_viewer_only_watches(new_page):
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Fine-tune")
    expect_page(page, "finetune", "dan")
    check_quick_preset(page)

    viewer = new_page()
    log_in(viewer, "vic")
    click_nav(viewer, "Fine-tune")
    expect_page(viewer, "finetune", "vic")
    expect(viewer.get_by_role("tab", name="Jobs", exact=True)).to_be_visible()
    expect(viewer.get_by_role("tab", name="Compare runs", exact=True)).to_be_visible()
    expect(viewer.get_by_role("tab", name="Launch", exact=True)).to_have_count(0)
    expect(main(viewer).get_by_role("button", name="Check", exact=True)).to_have_count(0)
    expect(main(viewer).get_by_role("button", name="Launch", exact=True)).to_have_count(0)


@pytest.mark.slow
def test_screenshots_of_the_build_pages(new_page, app_server, screenshot_dir):
    """README pictures: docs/screenshots with WORKBENCH_UPDATE_SCREENSHOTS=1, else .test-artifacts/screenshots."""
    template = "e2e-shot-summary"
    seed_template(app_server.home, template, ["Summarise this ticket:\n{{ text }}",
                                              "Summarise this ticket in one line:\n{{ text }}"])
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Prompts")
    expect_page(page, "prompts", "dan")
    choose(page, "Template", template)
    set_text(page, textbox(page, "text"), "The printer on floor 3 jams.")
    expect(visible(main(page).get_by_test_id("stText")).filter(has_text="The printer on floor 3 jams.")).to_be_visible()
    scroll_to_top(page, main(page).get_by_test_id("stCaptionContainer").filter(has_text="Variables:"))
    shoot(page, screenshot_dir, "prompts")

    click_nav(page, "Compare")
    expect_page(page, "compare", "dan")
    run_comparison(page, template, "e2e screenshot run")
    expect_run_shown(page, template)
    scroll_to_top(page, main(page).get_by_role("heading", name="Saved runs"))
    shoot(page, screenshot_dir, "compare")

    click_nav(page, "Fine-tune")
    expect_page(page, "finetune", "dan")
    check_quick_preset(page)
    scroll_to_top(page, main(page).get_by_role("heading", name="Pre-flight"))
    shoot(page, screenshot_dir, "finetune")


@pytest.mark.slow
def test_a_data_scientist_launches_a_quick_check_watches_it_live_and_cancels_it(new_page, app_server):
    """A real job: the worker starts `python -m core.finetune.run` on the CPU; the Jobs tab's live view (a fragment
    that reruns every 2 s) shows its steps advance with no reload; Cancel, confirmed, stops its process group."""
    budget = Budget(JOB_JOURNEY_S)
    with home_store(app_server.home) as store:
        before = {job.id for job in queue.list_jobs(store, actor=SYSTEM)}
    pids: dict[int, int] = {}
    page = new_page()
    try:
        log_in(page, "dan")
        click_nav(page, "Fine-tune")
        expect_page(page, "finetune", "dan")
        check_quick_preset(page)
        model = selectbox(page, "Base model").input_value()

        # Launch: the page reruns on the Jobs tab with the new job selected.
        after_run(page, main(page).get_by_role("button", name="Launch", exact=True).click,
                  min(CHECK_MS, budget.ms()))
        assert_no_error(page)
        with home_store(app_server.home) as store:
            made = [job for job in queue.list_jobs(store, actor=SYSTEM) if job.id not in before]
        assert len(made) == 1, f"Launch made {len(made)} jobs: {[job.to_dict() for job in made]}"
        job_id = made[0].id
        assert made[0].created_by == "dan" and made[0].config["max_steps"] == 30, made[0].to_dict()
        # (The "Launched job N" notice shows once: the live view's rerun when the job starts may have taken it.)
        expect(page.get_by_role("tab", name="Jobs", exact=True)).to_have_attribute("aria-selected", "true")
        expect(selectbox(page, "Job")).to_have_value(f"Job {job_id} · {model} on support-chat-sft@1 · by dan")
        expect(jobs_table_cell(page, job_id, "Launched by")).to_have_text("dan")
        expect(jobs_table_cell(page, job_id, "Status")).to_have_text(re.compile(r"^(queued|running)$"))

        # Running, then its step advances by itself: the test only watches.
        status = main(page).get_by_text(re.compile(rf"^Job {job_id}: \w+$"))
        expect(status).to_have_text(f"Job {job_id}: running", timeout=budget.ms())
        with home_store(app_server.home) as store:
            running = queue.get_job(store, actor=SYSTEM, job_id=job_id)
        assert running.status == queue.RUNNING and running.pid, f"job {job_id} is not running: {running.to_dict()}"
        pids[job_id] = running.pid
        assert queue.process_alive(running.pid, job_id), \
            f"job {job_id}'s pid {running.pid} is not a live `core.finetune.run --job {job_id}` process"
        progress = main(page).get_by_test_id("stProgress")
        first = shown_step(progress, budget.ms())
        # Another step than `first` (a number that merely starts with it, 1 -> 10, counts as another).
        expect(progress).to_contain_text(re.compile(rf"Step (?!{first} of)\d[\d,]* of "), timeout=budget.ms())
        second = shown_step(progress, budget.ms())
        assert second > first, f"the live view went from step {first} to step {second}"
        expect(status).to_have_text(f"Job {job_id}: running")
        assert_no_error(page)

        # Cancel asks first; confirmed, the job is cancelled.
        cancel = main(page).get_by_role("button", name=re.compile(r"Cancel$"))
        expect(cancel).to_have_count(1)
        cancel.click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible(timeout=budget.ms())
        expect(dialog).to_contain_text(f"Cancel job {job_id} ({model} on support-chat-sft@1), launched by dan?")
        after_run(page, dialog.get_by_role("button", name="Cancel the job", exact=True).click, budget.ms())
        expect(dialog).to_have_count(0)
        expect(main(page).get_by_test_id("stAlertContentSuccess")).to_have_text(f"Cancelled job {job_id}.")
        expect(status).to_have_text(f"Job {job_id}: cancelled")
        expect(main(page).get_by_test_id("stAlertContentInfo").filter(has_text="This job was cancelled.")) \
            .to_be_visible()
        expect(jobs_table_cell(page, job_id, "Status")).to_have_text("cancelled")
        expect(main(page).get_by_role("button", name=re.compile(r"Cancel$"))).to_have_count(0)
        expect(main(page).get_by_role("button", name=re.compile(r"Resume$"))).to_be_visible()
        assert_no_error(page)

        # The core agrees, and the training process (and its group) is gone.
        with home_store(app_server.home) as store:
            job = queue.get_job(store, actor=SYSTEM, job_id=job_id)
        assert job.status == queue.CANCELLED, f"job {job_id} is {job.status} in the database: {job.to_dict()}"
        assert job.pid is None and job.finished_at is not None
        left = wait_until_gone(running.pid, 10)  # cancel waited for it already; a moment for the kernel
        assert not left, f"job {job_id}'s process group {running.pid} outlived the cancel: {left}"
        assert not queue.process_alive(running.pid, job_id)
    except BaseException:
        keep_failure_screenshot(page, "finetune-cancel-failure")
        raise
    finally:
        cancel_leftovers(app_server.home, before, pids)
