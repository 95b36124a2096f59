"""Staying logged in across reloads, tabs and shared links through the HttpOnly login cookie, and its end: logging
out, a password change elsewhere; and the app's own answer to a page URL that names no page."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.governance import users
from core.governance.roles import SYSTEM
from core.home import open_store
from core.settings import Settings
from tests.conftest import PASSWORD
from tests.e2e.test_journeys import (after_run, assert_no_error, expect_login_form, expect_page, log_in, main,
                                     sidebar, submit_login, wait_until_idle)
from workbench.login_cookie import COOKIE

pytestmark = pytest.mark.e2e


def login_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == COOKIE), None)


def test_a_login_survives_a_reload_a_second_tab_and_a_shared_link_until_logout(new_page):
    page = new_page()
    page.goto("/models")  # a colleague's link, before logging in
    expect_login_form(page)
    submit_login(page, "vic", PASSWORD)
    expect_page(page, "models", "vic")  # back on the page the link named
    cookie = login_cookie(page)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"]
    assert cookie["value"] not in page.url and page.evaluate("document.cookie").find(COOKIE) == -1

    page.reload()
    expect_page(page, "models", "vic")
    second = page.context.new_page()
    second.goto("/finetune")
    expect_page(second, "finetune", "vic")

    after_run(page, sidebar(page).get_by_role("button", name="Log out").click)
    expect_login_form(page)
    assert login_cookie(page) is None
    second.reload()
    expect_login_form(second)


def test_a_password_change_ends_the_cookie_login_everywhere(new_page, app_server):
    page = new_page()
    log_in(page, "ann")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKBENCH_HOME", str(app_server.home))
        env.delenv("WORKBENCH_DATABASE_URL", raising=False)
        store = open_store(Settings.from_env())
    try:
        users.set_password(store, actor=SYSTEM, name="ann", new_password="a-new-password-3")
        page.reload()
        expect_login_form(page)
        expect(main(page).get_by_text("Your session has ended")).to_be_visible()
    finally:
        users.set_password(store, actor=SYSTEM, name="ann", new_password=PASSWORD)
        store.dispose()


def test_an_unknown_page_url_gets_the_apps_own_answer(new_page):
    page = new_page()
    page.goto("/no-such-thing")
    wait_until_idle(page)
    expect(main(page).get_by_role("heading", name="No such page")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)  # not Streamlit's "page not found" box
    log_in(page, "dan")
    page.goto("/no-such-thing")
    wait_until_idle(page)
    assert_no_error(page)
    expect(main(page).get_by_role("heading", name="No such page")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(sidebar(page).get_by_text("Logged in as")).to_contain_text("dan")
