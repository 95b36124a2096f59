"""What a user relies on, in a real browser against the running app: logging in, seeing the pages of one's role
and only those, being refused the others, logging out, an admin adding a colleague; and the README's screenshots.

Opening a page "by URL" happens inside the logged-in browser session (history.pushState and a popstate event,
the path the browser's back/forward buttons and Streamlit's own page links take). A full page load starts a
new Streamlit session, which asks to log in again: login tokens live in Streamlit's session state only (README,
"Security"); the logged-out test checks that side.
"""
from __future__ import annotations

import importlib.util
import re

import pytest
from playwright.sync_api import Page, expect

from core.governance.roles import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import ACCOUNTS
from workbench.navigation import PAGES

pytestmark = pytest.mark.e2e

# What each role's sidebar offers, by url path; written out here rather than derived from the app's own tables.
PAGES_BY_ROLE = {
    Role.ADMIN: {"home", "data", "models", "admin", "account"},
    Role.DATA_SCIENTIST: {"home", "data", "models", "account"},
    Role.ANNOTATOR: {"home", "account"},
    Role.VIEWER: {"home", "models", "account"},
}
# The heading each page opens with (Home's title is the app's name, as on the login form; its greeting tells them apart).
HEADINGS = {"home": "LLMOps Workbench", "data": "Data", "models": "Models", "admin": "Admin", "account": "Account"}
TITLES = {"home": "Home", "data": "Data", "models": "Models", "admin": "Admin", "account": "Account"}
NAME_BY_ROLE = {role: name for name, role in ACCOUNTS.items()}
ALL_ROLES = list(PAGES_BY_ROLE)

# The Data page imports core.data.pii, which is not in the repository yet (work in progress): until it is, the
# page fails on import for every role, before its role check. Its checks are kept apart so the rest still runs.
DATA_PAGE_INCOMPLETE = importlib.util.find_spec("core.data.pii") is None
data_page_pending = pytest.mark.xfail(
    DATA_PAGE_INCOMPLETE, strict=True,
    reason="pages/data.py imports core.data.pii (via core.data.profile and core.data.redact), which does not exist "
           "yet: the page shows Streamlit's 'This app has encountered an error' for every role")
SEPARATE = {"data"}  # pages whose checks live in their own test (see above)


def role_id(role: Role) -> str:
    return role.value


# --- helpers -------------------------------------------------------------------------------------------------


def wait_until_idle(page: Page) -> None:
    """Until the script run in progress has finished (Streamlit marks its root element)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()


def expect_no_error(page: Page) -> None:
    wait_until_idle(page)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def login_form(page: Page):
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in", exact=True))


def expect_login_form(page: Page) -> None:
    form = login_form(page)
    expect(form.get_by_role("textbox", name="User name", exact=True)).to_be_visible()
    expect(form.get_by_role("textbox", name="Password", exact=True)).to_be_visible()
    expect(page.get_by_text("Logged in as")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(0)


def submit_login(page: Page, name: str, password: str) -> None:
    page.goto("/")
    form = login_form(page)
    form.get_by_role("textbox", name="User name", exact=True).fill(name)
    form.get_by_role("textbox", name="Password", exact=True).fill(password)
    form.get_by_role("button", name="Log in", exact=True).click()


def log_in(page: Page, name: str, password: str = PASSWORD) -> None:
    """Through the form; returns once Home greets the user."""
    submit_login(page, name, password)
    expect_home(page, name)


def expect_home(page: Page, name: str) -> None:
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name=HEADINGS["home"], exact=True)).to_be_visible()
    expect(main.get_by_text(f"Welcome, {name}.")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Logged in as")).to_contain_text(name)


def open_by_url(page: Page, path: str) -> None:
    """Goes to `path` inside the current browser session, as a page link or the back button would."""
    page.evaluate("path => { history.pushState({}, '', path); window.dispatchEvent(new PopStateEvent('popstate')); }",
                  path)


def sidebar_pages(page: Page) -> dict[str, str]:
    """{url path: title} of the sidebar's page links."""
    links = page.get_by_test_id("stSidebarNavLink")
    found = {}
    for link in links.all():
        path = (link.get_attribute("href") or "").split("://", 1)[-1].partition("/")[2].strip("/") or "home"
        found[path] = link.inner_text().strip().splitlines()[-1].strip()  # the icon's ligature comes first
    return found


def expect_page(page: Page, url_path: str, name: str) -> None:
    """The page's own content is shown, without a refusal or an error, and the address bar names it."""
    main = page.get_by_test_id("stMain")
    expect(page).to_have_url(re.compile(r"/(home)?$" if url_path == "home" else rf"/{url_path}$"))
    expect(main.get_by_role("heading", name=HEADINGS[url_path], exact=True)).to_be_visible()
    if url_path == "home":
        expect(main.get_by_text(f"Welcome, {name}.")).to_be_visible()
    expect_no_error(page)
    expect(main.get_by_role("heading", name=HEADINGS[url_path], exact=True)).to_be_visible()
    expect(main.get_by_text("Not authorised")).to_have_count(0)
    expect(main.get_by_text("Log in first")).to_have_count(0)


def grid_row(page: Page, *texts: str):
    """A row of an st.dataframe (its accessible table) holding every one of `texts`."""
    rows = page.get_by_test_id("stDataFrame").get_by_role("row")
    for text in texts:
        rows = rows.filter(has_text=text)
    return rows


# --- tests ---------------------------------------------------------------------------------------------------


def test_the_expectations_cover_every_page_of_the_app():
    assert set(HEADINGS) == {spec.url_path for spec in PAGES}, "a page was added or removed: update this file's tables"
    assert set(PAGES_BY_ROLE) == set(Role) == set(ACCOUNTS.values())


@pytest.mark.parametrize("role", ALL_ROLES, ids=role_id)
def test_each_role_logs_in_sees_its_pages_and_opens_them(page, role):
    name = NAME_BY_ROLE[role]
    allowed = PAGES_BY_ROLE[role]
    log_in(page, name)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("stSidebar").get_by_text("Logged in as")).to_contain_text(role.label)
    expect_no_error(page)

    # The sidebar offers exactly the role's pages.
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(len(allowed))
    assert sidebar_pages(page) == {path: TITLES[path] for path in allowed}

    # Each through its sidebar link, then each by URL.
    for url_path in sorted(allowed - {"home"} - SEPARATE) + ["home"]:
        page.get_by_test_id("stSidebarNavLink").filter(has_text=TITLES[url_path]).click()
        expect_page(page, url_path, name)
    for url_path in sorted(allowed - SEPARATE) + ["/"]:
        path = url_path if url_path == "/" else f"/{url_path}"
        open_by_url(page, path)
        expect_page(page, "home" if url_path == "/" else url_path, name)
    # Pages did not log the user out on the way.
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(len(allowed))


def forbidden(role: Role) -> set[str]:
    return set(HEADINGS) - PAGES_BY_ROLE[role]


def expect_not_authorised(page: Page, role: Role, url_path: str) -> None:
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Not authorised")).to_contain_text(f"your role ({role.label}) may not use this page")
    expect_no_error(page)
    expect(main.get_by_role("heading", name=HEADINGS[url_path], exact=True)).to_have_count(0)
    expect(main.get_by_test_id("stDataFrame")).to_have_count(0)
    # Still logged in, and the forbidden page is not offered.
    expect(page.get_by_test_id("stSidebar").get_by_text("Logged in as")).to_contain_text(NAME_BY_ROLE[role])
    assert url_path not in sidebar_pages(page)


@pytest.mark.parametrize("role", [r for r in ALL_ROLES if forbidden(r) - SEPARATE], ids=role_id)
def test_forbidden_pages_by_url_say_not_authorised(page, role):
    log_in(page, NAME_BY_ROLE[role])
    for url_path in sorted(forbidden(role) - SEPARATE):
        open_by_url(page, f"/{url_path}")
        expect_not_authorised(page, role, url_path)


@data_page_pending
@pytest.mark.parametrize("role", ALL_ROLES, ids=role_id)
def test_the_data_page_opens_for_its_roles_and_refuses_the_others(page, role):
    name = NAME_BY_ROLE[role]
    log_in(page, name)
    if "data" in PAGES_BY_ROLE[role]:
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Data").click()
        expect_page(page, "data", name)
        open_by_url(page, "/home")
        expect_page(page, "home", name)
        open_by_url(page, "/data")
        expect_page(page, "data", name)
    else:
        open_by_url(page, "/data")
        expect_not_authorised(page, role, "data")


def test_a_wrong_password_stays_on_the_login_form(page):
    submit_login(page, "vic", "not-the-password")
    expect(page.get_by_test_id("stMain").get_by_text("Wrong user name or password.")).to_be_visible()
    expect_no_error(page)
    expect_login_form(page)
    expect(page.get_by_text("Welcome,")).to_have_count(0)
    # An unknown user gets the same sentence, and the right password still works afterwards.
    submit_login(page, "nobody-here", PASSWORD)
    expect(page.get_by_test_id("stMain").get_by_text("Wrong user name or password.")).to_be_visible()
    expect_login_form(page)
    log_in(page, "vic")


@pytest.mark.parametrize("button", ["sidebar", "account page"])
def test_log_out_returns_to_the_login_form_and_pages_stop_answering(page, button):
    log_in(page, "dan")
    if button == "sidebar":
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Models").click()
        expect_page(page, "models", "dan")
        page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
    else:
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Account").click()
        expect_page(page, "account", "dan")
        page.get_by_test_id("stMain").get_by_role("button", name="Log out").click()
    expect_login_form(page)
    expect_no_error(page)

    # Inside the same browser session, a page URL now shows the login form, not the page.
    for url_path in ("models", "data", "admin", "account"):
        open_by_url(page, f"/{url_path}")
        wait_until_idle(page)
        expect_login_form(page)
        main = page.get_by_test_id("stMain")
        expect(main.get_by_role("heading", name=HEADINGS[url_path], exact=True)).to_have_count(0)
        expect(main.get_by_test_id("stDataFrame")).to_have_count(0)

    # Nor does loading the URL afresh.
    page.goto("/models")
    expect_login_form(page)
    wait_until_idle(page)
    expect(page.get_by_test_id("stMain").get_by_role("heading", name="Models", exact=True)).to_have_count(0)
    expect(page.get_by_text("smollm2-135m-instruct")).to_have_count(0)


def test_the_models_page_lists_the_bundled_models(page):
    log_in(page, "vic")
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Models").click()
    expect_page(page, "models", "vic")
    for model in ("smollm2-135m-instruct", "minilm-l6-v2"):
        expect(grid_row(page, model)).to_have_count(1)


def test_an_admin_adds_a_user_who_can_then_log_in_and_is_audited(new_page):
    newcomer, password = "e2e.newcomer", "a-long-password-7"
    admin = new_page()
    log_in(admin, "ada")
    admin.get_by_test_id("stSidebarNavLink").filter(has_text="Admin").click()
    expect_page(admin, "admin", "ada")

    form = admin.get_by_test_id("stForm").filter(has_text="Add a user")
    form.get_by_role("textbox", name="User name", exact=True).fill(newcomer)
    form.get_by_test_id("stSelectbox").click()
    admin.get_by_role("option", name="Data scientist", exact=True).click()
    expect(form.get_by_test_id("stSelectbox")).to_contain_text("Data scientist")
    form.get_by_role("textbox", name="E-mail (optional)", exact=True).fill("newcomer@example.org")
    form.get_by_role("textbox", name="Password", exact=True).fill(password)
    form.get_by_role("button", name="Add user", exact=True).click()
    expect(admin.get_by_test_id("stMain").get_by_text(f"Added {newcomer} as data scientist.")).to_be_visible()
    expect_no_error(admin)
    expect(grid_row(admin, newcomer, "Data scientist", "newcomer@example.org")).to_have_count(1)

    # The newcomer logs in from another browser session and gets a data scientist's pages.
    colleague = new_page()
    log_in(colleague, newcomer, password)
    expect(colleague.get_by_test_id("stSidebar").get_by_text("Logged in as")).to_contain_text("Data scientist")
    expect(colleague.get_by_test_id("stSidebarNavLink")).to_have_count(len(PAGES_BY_ROLE[Role.DATA_SCIENTIST]))
    assert set(sidebar_pages(colleague)) == PAGES_BY_ROLE[Role.DATA_SCIENTIST]
    expect_no_error(colleague)

    # The audit log names who created whom.
    admin.get_by_role("tab", name="Audit log").click()
    expect(grid_row(admin, "user.create", f"user {newcomer}", "ada")).to_have_count(1)
    expect_no_error(admin)


def _settle(page: Page) -> None:
    """Nothing left to draw: the script run is over and the fonts (icons included) are in."""
    wait_until_idle(page)
    page.evaluate("document.fonts.ready.then(() => true)")
    expect(page.locator(".stSpinner")).to_have_count(0)


def test_screenshots_of_the_main_pages(new_page, screenshot_dir):
    """README pictures: docs/screenshots with WORKBENCH_UPDATE_SCREENSHOTS=1, else .test-artifacts/screenshots."""
    shots = []

    def shoot(page: Page, name: str) -> None:
        _settle(page)
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    admin = new_page()
    admin.goto("/")
    expect_login_form(admin)
    shoot(admin, "login")

    log_in(admin, "ada")
    expect(admin.get_by_role("heading", name="Recent activity")).to_be_visible()
    shoot(admin, "home-admin")

    admin.get_by_test_id("stSidebarNavLink").filter(has_text="Models").click()
    expect_page(admin, "models", "ada")
    expect(admin.get_by_test_id("stJson")).to_be_visible()
    shoot(admin, "models")

    admin.get_by_test_id("stSidebarNavLink").filter(has_text="Admin").click()
    expect_page(admin, "admin", "ada")
    expect(admin.get_by_role("heading", name="Add a user")).to_be_visible()
    shoot(admin, "admin-users")

    admin.get_by_role("tab", name="Audit log").click()
    expect(admin.get_by_role("button", name="Download as CSV").last).to_be_visible()
    expect(grid_row(admin, "user.create").first).to_be_visible()
    shoot(admin, "admin-audit")

    annotator = new_page()
    log_in(annotator, "ann")
    expect(annotator.get_by_text("Annotation queues assigned to you")).to_be_visible()
    shoot(annotator, "home-annotator")

    for path in shots:
        assert path.stat().st_size > 10_000, f"{path} looks empty"
