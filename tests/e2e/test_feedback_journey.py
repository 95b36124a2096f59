"""Annotator journey in a real browser: the home lists the queue, a pairwise queue is rated with the keyboard
alone, a rating is changed after going back, no other page opens (also by URL), a script in a model output
stays text; a viewer reads the leaderboard but cannot rate."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import expect
from sqlmodel import select

from core.data import versions
from core.feedback import projects, sources
from core.feedback.schema import parse_question
from core.governance.roles import SYSTEM, Actor, Role
from core.home import open_store
from core.settings import Settings
from core.storage.tables import Rating
from tests.e2e.test_journeys import after_run, assert_no_error, log_in, main, open_by_url

pytestmark = pytest.mark.e2e

XSS = "<script>window.__xss = 1; alert('xss')</script><img src=x onerror=\"window.__xss = 2\">"
PROJECT = "browser-duel"


@pytest.fixture
def pairwise_queue(app_server, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(app_server.home))
    store = open_store(Settings.from_env())
    frame = pd.DataFrame({"question": ["Can I return shoes?", "Is the shop open on Sunday?", "Do you ship abroad?"],
                          "one": [XSS, "Yes, from 10 to 16.", "Yes, to the EU."],
                          "two": ["Yes, within 30 days.", "No.", "Only within the country."]})
    try:
        versions.save_version(store, actor=SYSTEM, name="browser-pairs", frame=frame, transformation="import",
                              source="pairs.csv")
        projects.create_project(store, actor=SYSTEM, name=PROJECT,
                                source=sources.DatasetSource(ref="browser-pairs", prompt_column="question",
                                                             response_columns=("one", "two")),
                                questions=[parse_question("better:pairwise")], annotators=["ann"],
                                guidelines="Pick the reply a customer would rather get.")
        yield store
    finally:
        try:
            projects.delete_project(store, actor=SYSTEM, project=PROJECT)
        finally:
            store.dispose()


def _press(page, key: str) -> None:
    after_run(page, lambda: page.keyboard.press(key))


def _ratings(store) -> list[Rating]:
    with store.read() as session:
        return list(session.exec(select(Rating).where(Rating.annotator == "ann")))


def test_an_annotator_rates_with_the_keyboard_goes_back_and_sees_no_other_page(new_page, pairwise_queue):
    page = new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, "ann")
    expect(main(page).get_by_text("Your rating queue")).to_be_visible()
    expect(main(page).get_by_text("0 of 3 rated · 3 waiting")).to_be_visible()

    open_by_url(page, "/annotate")
    expect(main(page).get_by_role("heading", name="Rate model outputs")).to_be_visible()
    assert_no_error(page)
    progress = main(page).get_by_text(re.compile(r"\d of 3 rated"))
    expect(progress).to_contain_text("0 of 3 rated")
    # The script in a model output is shown as text and never runs.
    expect(main(page).get_by_text("window.__xss = 1", exact=False)).to_be_visible()
    assert page.evaluate("() => window.__xss") is None and dialogs == []
    assert main(page).locator("img[src='x']").count() == 0

    main(page).get_by_role("heading", name="Rate model outputs").click()  # focus the page, not a widget
    _press(page, "a")
    expect(progress).to_contain_text("1 of 3 rated")
    _press(page, "b")
    expect(progress).to_contain_text("2 of 3 rated")
    assert len(_ratings(pairwise_queue)) == 2
    _press(page, "p")  # back to the item just rated
    expect(main(page).get_by_text("already rated")).to_be_visible()
    _press(page, "t")  # changed to a tie, which submits and moves on
    expect(main(page).get_by_text("already rated")).to_have_count(0)
    rows = _ratings(pairwise_queue)
    assert len(rows) == 2 and sorted(r.revision for r in rows) == [1, 2]
    assert [r.value for r in rows if r.revision == 2] == ["tie"]
    assert page.evaluate("() => window.__xss") is None and dialogs == []

    for path in ("/data", "/feedback", "/models", "/admin"):
        open_by_url(page, path)
        expect(main(page).get_by_text("Not authorised")).to_be_visible()
        assert_no_error(page)


def test_a_viewer_reads_the_leaderboard_but_cannot_rate(new_page, pairwise_queue):
    from core.feedback import ratings

    ann = Actor(name="ann", role=Role.ANNOTATOR)
    for item in ratings.queue(pairwise_queue, actor=ann, project=PROJECT):
        ratings.submit(pairwise_queue, actor=ann, project=PROJECT, item_id=item.item_id, answers={"better": "A"})
    page = new_page()
    log_in(page, "vic")
    open_by_url(page, "/feedback")
    expect(main(page).get_by_role("heading", name="Human feedback")).to_be_visible()
    expect(main(page).get_by_role("heading", name="Leaderboard")).to_be_visible()
    expect(main(page).get_by_role("tab", name="New project")).to_have_count(0)
    assert_no_error(page)
    open_by_url(page, "/annotate")
    expect(main(page).get_by_text("Not authorised")).to_be_visible()
