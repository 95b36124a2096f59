"""Export in one step: the Data page's download button gives the file at once, and again on a second click."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_journeys import assert_no_error, choose, click_nav, expect_page, log_in, main

pytestmark = pytest.mark.e2e


def test_the_export_button_downloads_the_file_every_time_it_is_clicked(new_page, tmp_path):
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Data")
    expect_page(page, "data", "dan")
    choose(page, "Dataset", "support-tickets")
    page.get_by_role("tab", name="Transform & export", exact=True).click()
    button = main(page).get_by_role("button", name="Download support-tickets-v1.csv")
    expect(main(page).get_by_role("button", name="Prepare download")).to_have_count(0)
    sizes = []
    for attempt in range(2):
        with page.expect_download() as caught:
            button.click()
        path = tmp_path / f"export-{attempt}.csv"
        caught.value.save_as(path)
        sizes.append(path.stat().st_size)
        assert path.read_text(encoding="utf-8-sig").splitlines()[0].startswith("ticket_id,")
        expect(button).to_be_visible()  # still there for the next click
    assert sizes[0] == sizes[1] > 0
    assert_no_error(page)
