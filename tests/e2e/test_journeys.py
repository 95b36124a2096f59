"""What a user relies on, in a real browser against the running app: logging in, seeing the pages of one's role
and only those, being refused the others, logging out, an admin adding a colleague; and the README's screenshots.

Opening a page "by URL" happens inside the logged-in browser session (history.pushState and a popstate event:
the path the browser's back and forward buttons and Streamlit's own page links take). Loading a URL afresh
starts a new Streamlit session, which stays logged in through the login cookie (test_staying_logged_in.py); the
log-out test checks that logging out ends it.

Every step waits for the script run it caused to finish (conftest's ScriptRuns), so the checks after it read the
page as that run left it, and a broken page fails at once instead of after a timeout.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from core.governance.roles import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import ACCOUNTS, TIMEOUT_MS, script_runs
from workbench.navigation import PAGES

pytestmark = pytest.mark.e2e

# What each role's sidebar offers, by url path; written out here rather than derived from the app's own tables.
PAGES_BY_ROLE = {
    Role.ADMIN: {"home", "data", "models", "prompts", "compare", "pipelines", "finetune", "evaluate", "feedback",
                 "annotate", "events", "kpi", "monitoring", "admin", "account"},
    Role.DATA_SCIENTIST: {"home", "data", "models", "prompts", "compare", "pipelines", "finetune", "evaluate",
                          "feedback", "events", "kpi", "monitoring", "account"},
    Role.ANNOTATOR: {"home", "annotate", "account"},
    Role.VIEWER: {"home", "data", "models", "finetune", "evaluate", "feedback", "kpi", "monitoring", "account"},
}
# The heading each page opens with. Home's title is the app's name, as on the login form: its greeting tells
# the two apart.
BUILD = {"prompts": "Prompts", "compare": "Compare", "pipelines": "Pipelines", "finetune": "Fine-tune",
         "evaluate": "Evaluate"}
OPERATE = {"events": "Events", "kpi": "KPIs", "monitoring": "Monitoring"}
HEADINGS = {"home": "LLMOps Workbench", "data": "Data", "models": "Models", **BUILD, **OPERATE, "admin": "Admin",
            "account": "Account", "feedback": "Human feedback", "annotate": "Rate model outputs"}
TITLES = {"home": "Home", "data": "Data", "models": "Models", **BUILD, **OPERATE, "admin": "Admin",
          "account": "Account", "feedback": "Feedback", "annotate": "Annotate"}
NAME_BY_ROLE = {role: name for name, role in ACCOUNTS.items()}
ALL_ROLES = list(PAGES_BY_ROLE)
# Profiling (a tokenizer to load, PII and near-duplicate scans) and redacting take seconds on a small machine.
SLOW_RUN_MS = 60_000
UPLOADER = "CSV, TSV, JSONL, JSON, Parquet or Excel file"


def role_id(role: Role) -> str:
    return role.value


def forbidden(role: Role) -> set[str]:
    return set(HEADINGS) - PAGES_BY_ROLE[role]


# --- helpers -------------------------------------------------------------------------------------------------


def main(page: Page) -> Locator:
    return page.get_by_test_id("stMain")


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def after_run(page: Page, action: Callable[[], None], timeout_ms: float = TIMEOUT_MS) -> None:
    """Does `action`, then waits until the script run it caused has finished and the page has drawn it."""
    script_runs(page).wait_after(action, timeout_ms)
    wait_until_idle(page)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def wait_until_idle(page: Page) -> None:
    """Until no script run is in progress (a login, for one, reruns the script once more)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()


def assert_no_error(page: Page) -> None:
    """Neither Streamlit's exception box nor the app's own 'something went wrong' sentence, right now."""
    exceptions = page.get_by_test_id("stException")
    assert exceptions.count() == 0, f"{page.url} shows an exception: {exceptions.first.inner_text()[:500]}"
    assert main(page).get_by_text("Something went wrong").count() == 0, f"{page.url} shows 'Something went wrong'"


def open_by_url(page: Page, path: str) -> None:
    """Goes to `path` inside the current browser session, as a page link or the back button would."""
    after_run(page, lambda: page.evaluate(
        "path => { history.pushState({}, '', path); window.dispatchEvent(new PopStateEvent('popstate')); }", path))


def click_nav(page: Page, title: str) -> None:
    # By the link's exact name: has_text would also match an icon's ligature (KPIs' icon reads "monitoring").
    link = page.get_by_test_id("stSidebarNavLink").and_(page.get_by_role("link", name=title, exact=True))
    after_run(page, link.click)


def login_form(page: Page) -> Locator:
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in", exact=True))


def expect_login_form(page: Page) -> None:
    form = login_form(page)
    expect(form.get_by_role("textbox", name="User name", exact=True)).to_be_visible()
    expect(form.get_by_role("textbox", name="Password", exact=True)).to_be_visible()
    expect(page.get_by_text("Logged in as")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(0)


def submit_login(page: Page, name: str, password: str) -> None:
    if login_form(page).count() == 0:
        page.goto("/")
        expect(login_form(page)).to_be_visible()
        wait_until_idle(page)
    form = login_form(page)
    form.get_by_role("textbox", name="User name", exact=True).fill(name)
    form.get_by_role("textbox", name="Password", exact=True).fill(password)
    after_run(page, lambda: form.get_by_role("button", name="Log in", exact=True).click())


def log_in(page: Page, name: str, password: str = PASSWORD) -> None:
    """Through the form; returns once Home greets the user."""
    submit_login(page, name, password)
    expect_page(page, "home", name)
    expect(sidebar(page).get_by_text("Logged in as")).to_contain_text(name)


def sidebar_pages(page: Page) -> dict[str, str]:
    """{url path: title} of the sidebar's page links."""
    found = {}
    for link in page.get_by_test_id("stSidebarNavLink").all():
        path = (link.get_attribute("href") or "").split("://", 1)[-1].partition("/")[2].strip("/") or "home"
        found[path] = link.inner_text().strip().splitlines()[-1].strip()  # the icon's ligature comes first
    return found


def expect_page(page: Page, url_path: str, name: str) -> None:
    """The page's own content is shown, without a refusal or an error, and the address bar names it."""
    assert_no_error(page)
    heading = main(page).get_by_role("heading", name=HEADINGS[url_path], exact=True)
    expect(heading).to_be_visible()
    if url_path == "home":
        expect(main(page).get_by_text(f"Welcome, {name}.")).to_be_visible()
    # A page may keep its filters in the query (KPIs: a shareable link), after the path that names it.
    expect(page).to_have_url(re.compile((r"/(home)?" if url_path == "home" else rf"/{url_path}") + r"(\?[^/]*)?$"))
    expect(main(page).get_by_text("Not authorised")).to_have_count(0)
    expect(main(page).get_by_text("Log in first")).to_have_count(0)


def expect_not_authorised(page: Page, role: Role, url_path: str) -> None:
    assert_no_error(page)
    expect(main(page).get_by_text("Not authorised")).to_contain_text(f"your role ({role.label}) may not use this page")
    expect(main(page).get_by_role("heading", name=HEADINGS[url_path], exact=True)).to_have_count(0)
    expect(main(page).get_by_test_id("stDataFrame")).to_have_count(0)
    # Still logged in, and the forbidden page is not offered.
    expect(sidebar(page).get_by_text("Logged in as")).to_contain_text(NAME_BY_ROLE[role])
    assert url_path not in sidebar_pages(page)


def grid_row(page: Page, *texts: str) -> Locator:
    """Rows of an st.dataframe (the grid's accessible table) holding every one of `texts`."""
    rows = page.get_by_test_id("stDataFrame").locator("tbody tr")
    for text in texts:
        rows = rows.filter(has_text=text)
    return rows


def grid_with_columns(page: Page, *headers: str) -> Locator:
    """The st.dataframes whose header row holds every one of `headers` (the grid's accessible table)."""
    grids = main(page).get_by_test_id("stDataFrame")
    for header in headers:
        grids = grids.filter(has=page.locator("thead th").get_by_text(header, exact=True))
    return grids


def grid_column(grid: Locator, header: str) -> Locator:
    """The body cells of `grid`'s column `header`."""
    expect(grid.locator("thead th").first).to_be_attached()
    index = [text.strip() for text in grid.locator("thead th").all_inner_texts()].index(header) + 1
    return grid.locator(f"tbody td[aria-colindex='{index}']")


def grid_cell(grid: Locator, key_column: str, key: str, column: str) -> Locator:
    """The cell in `column` of the rows of `grid` whose `key_column` reads exactly `key`."""
    headers = [text.strip() for text in grid.locator("thead th").all_inner_texts()]
    key_cell = grid.page.locator(f"td[aria-colindex='{headers.index(key_column) + 1}']").get_by_text(key, exact=True)
    return grid.locator("tbody tr").filter(has=key_cell).locator(f"td[aria-colindex='{headers.index(column) + 1}']")


def selectbox(page: Page, label: str) -> Locator:
    return main(page).get_by_role("combobox", name=label, exact=True)


def open_selectbox(box: Locator) -> None:
    """Clicks a selectbox in the middle of the window: one left under Streamlit's header by an earlier scroll
    takes the focus but does not open. A click that lands while the page is still laying itself out can also leave
    it focused but closed (seen once under CI load): then it is clicked again, within the usual wait."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        box.evaluate("node => node.scrollIntoView({block: 'center'})")
        if box.get_attribute("aria-expanded") != "true":
            box.click()
        try:
            expect(box).to_have_attribute("aria-expanded", "true", timeout=3000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def choose(page: Page, label: str, option: str) -> None:
    """Picks `option` in the selectbox labelled `label` (nothing to do when it is picked already)."""
    box = selectbox(page, label)
    if box.input_value() != option:
        open_selectbox(box)
        after_run(page, page.get_by_role("option", name=option, exact=True).click)
    expect(box).to_have_value(option)


def selectbox_options(page: Page, label: str) -> list[str]:
    """What the selectbox labelled `label` offers, read from its open list (closed again afterwards)."""
    open_selectbox(selectbox(page, label))
    options = page.get_by_role("listbox").get_by_role("option")
    expect(options.first).to_be_visible()
    found = [text.strip() for text in options.all_inner_texts()]
    page.keyboard.press("Escape")
    expect(page.get_by_role("listbox")).to_have_count(0)
    return found


def import_box(page: Page) -> Locator:
    return main(page).get_by_test_id("stExpander").filter(has_text="Import a file")


def import_file(page: Page, path, dataset: str) -> None:
    """Through the Data page's "Import a file" expander: the file uploader, the dataset name, the Import button."""
    box = import_box(page)
    uploader = box.get_by_test_id("stFileUploader").filter(has_text=UPLOADER)
    if not uploader.is_visible():
        box.get_by_text("Import a file", exact=True).click()
    expect(uploader).to_be_visible()
    after_run(page, lambda: uploader.locator("input[type=file]").set_input_files(str(path)))
    expect(uploader.get_by_text(path.name, exact=True)).to_be_visible()
    name = box.get_by_role("textbox", name="Dataset name", exact=True)
    if name.input_value() != dataset:  # the upload fills in a name from the file's; an unchanged one reruns nothing
        name.fill(dataset)
        after_run(page, lambda: name.press("Enter"))
    expect(name).to_have_value(dataset)
    after_run(page, box.get_by_role("button", name="Import", exact=True).click, SLOW_RUN_MS)


def metric(page: Page, label: str) -> Locator:
    """The value of the st.metric labelled `label`."""
    return (main(page).get_by_test_id("stMetric")
            .filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
            .get_by_test_id("stMetricValue"))


def profile_version(page: Page) -> None:
    """Draws the selected version's profile: "Profile this version", unless the profile cache drew it already."""
    page.get_by_role("tab", name="Profile", exact=True).click()
    button = main(page).get_by_role("button", name="Profile this version", exact=True)
    if button.count():
        after_run(page, button.click, SLOW_RUN_MS)
    assert_no_error(page)
    expect(metric(page, "Rows")).to_be_visible()
    expect(main(page).get_by_role("heading", name="Fine-tuning readiness")).to_be_visible()


def alerts_table(page: Page) -> Locator:
    """The profile's alerts: a static table, so long findings wrap instead of being cut off."""
    return main(page).get_by_test_id("stTable").filter(has=page.get_by_role("columnheader", name="Finding"))


def redact_into_new_version(page: Page, parent: str, child: str) -> None:
    """The "Transform & export" tab's redaction; identical content is stored once, so a repeat gives `child` again."""
    page.get_by_role("tab", name="Transform & export", exact=True).click()
    after_run(page, main(page).get_by_role("button", name="Redact into a new version", exact=True).click, SLOW_RUN_MS)
    assert_no_error(page)
    expect(main(page).get_by_test_id("stAlertContentSuccess")).to_contain_text(f"{child} made from {parent}")


def show_lineage(page: Page, dataset: str, child: str, parent: str) -> None:
    """Versions & lineage of `child`, made from `parent`, read afresh (the tab is drawn before a redaction in the
    same run, so it shows the new version from the next run on)."""
    open_by_url(page, "/data")
    choose(page, "Dataset", dataset)
    choose(page, "Version", child.rpartition("@")[2])
    page.get_by_role("tab", name="Versions & lineage", exact=True).click()
    assert_no_error(page)
    chart = main(page).get_by_test_id("stPlotlyChart").filter(has_text=child)
    expect(chart.locator(".main-svg").first).to_be_visible()
    expect(chart).to_contain_text(parent)
    table = grid_with_columns(page, "Version", "Made by", "Parents")
    expect(table).to_have_count(1)
    expect(table.locator("thead th").first).to_be_attached()
    expect(grid_cell(table, "Version", child, "Parents")).to_have_text(parent)
    expect(grid_cell(table, "Version", child, "Made by")).to_have_text("redact")
    expect(grid_cell(table, "Version", parent, "Made by")).to_have_count(1)


def scroll_to_top(page: Page, element: Locator, margin_px: int = 16) -> None:
    """Scrolls the page so that `element` starts `margin_px` below the window's top (Streamlit's header is
    transparent), as far as the page is long enough, and waits until that is drawn."""
    element.evaluate("(node, margin) => { node.style.scrollMarginTop = `${margin}px`; node.scrollIntoView(); }",
                     margin_px)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def version_caption(page: Page, ref: str) -> Locator:
    """The line under the Dataset and Version boxes that describes the selected version."""
    return main(page).get_by_test_id("stCaptionContainer").filter(has_text=f"{ref} · ")


# --- tests ---------------------------------------------------------------------------------------------------


def test_the_expectations_cover_every_page_of_the_app():
    assert set(HEADINGS) == {spec.url_path for spec in PAGES}, "a page was added or removed: update this file's tables"
    assert set(PAGES_BY_ROLE) == set(Role) == set(ACCOUNTS.values())


@pytest.mark.parametrize("role", ALL_ROLES, ids=role_id)
def test_each_role_logs_in_sees_its_pages_and_opens_them(new_page, role):
    page, name, allowed = new_page(), NAME_BY_ROLE[role], PAGES_BY_ROLE[role]
    log_in(page, name)
    expect(sidebar(page).get_by_text("Logged in as")).to_contain_text(role.label)

    # The sidebar offers exactly the role's pages.
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(len(allowed))
    assert sidebar_pages(page) == {path: TITLES[path] for path in allowed}

    # Each through its sidebar link, then each by URL.
    for url_path in sorted(allowed - {"home"}) + ["home"]:
        click_nav(page, TITLES[url_path])
        expect_page(page, url_path, name)
    for path in [f"/{url_path}" for url_path in sorted(allowed)] + ["/"]:
        open_by_url(page, path)
        expect_page(page, path.strip("/") or "home", name)
    # Nothing on the way logged the user out.
    assert set(sidebar_pages(page)) == allowed


@pytest.mark.parametrize("role", [r for r in ALL_ROLES if forbidden(r)], ids=role_id)
def test_forbidden_pages_by_url_say_not_authorised(new_page, role):
    page = new_page()
    log_in(page, NAME_BY_ROLE[role])
    for url_path in sorted(forbidden(role)):
        open_by_url(page, f"/{url_path}")
        expect_not_authorised(page, role, url_path)
        open_by_url(page, "/account")  # after a refusal the session still works, and no refusal is left over
        expect_page(page, "account", NAME_BY_ROLE[role])


def test_a_wrong_password_stays_on_the_login_form(new_page):
    page = new_page()
    submit_login(page, "vic", "not-the-password")
    assert_no_error(page)
    expect(main(page).get_by_text("Wrong user name or password.")).to_be_visible()
    expect_login_form(page)
    expect(page.get_by_text("Welcome,")).to_have_count(0)
    # An unknown user gets the same sentence, and the right password still works afterwards.
    submit_login(page, "nobody-here", PASSWORD)
    expect(main(page).get_by_text("Wrong user name or password.")).to_be_visible()
    expect_login_form(page)
    log_in(page, "vic")


@pytest.mark.parametrize("button", ["sidebar", "account page"])
def test_log_out_returns_to_the_login_form_and_pages_stop_answering(new_page, button):
    page = new_page()
    log_in(page, "dan")
    if button == "sidebar":
        click_nav(page, "Models")
        expect_page(page, "models", "dan")
        log_out = sidebar(page).get_by_role("button", name="Log out")
    else:
        click_nav(page, "Account")
        expect_page(page, "account", "dan")
        log_out = main(page).get_by_role("button", name="Log out")
    after_run(page, log_out.click)
    assert_no_error(page)
    expect_login_form(page)

    # Inside the same browser session, a page URL now shows the login form, not the page.
    for url_path in ("models", "data", "admin", "account", "home"):
        open_by_url(page, f"/{url_path}")
        assert_no_error(page)
        expect_login_form(page)
        expect(main(page).get_by_text("Welcome,")).to_have_count(0)
        expect(main(page).get_by_role("heading", name=HEADINGS[url_path], exact=True)).to_have_count(
            1 if url_path == "home" else 0)  # the login form carries the app's name too
        expect(main(page).get_by_test_id("stDataFrame")).to_have_count(0)

    # Nor does loading the URL afresh.
    page.goto("/models")
    expect_login_form(page)
    wait_until_idle(page)
    assert_no_error(page)
    expect(main(page).get_by_role("heading", name="Models", exact=True)).to_have_count(0)
    expect(page.get_by_text("smollm2-135m-instruct")).to_have_count(0)


def test_the_models_page_lists_the_bundled_models(new_page):
    page = new_page()
    log_in(page, "vic")
    click_nav(page, "Models")
    expect_page(page, "models", "vic")
    for model in ("smollm2-135m-instruct", "minilm-l6-v2"):
        expect(grid_row(page, model)).to_have_count(1)
    expect(page.get_by_test_id("stJson")).to_be_visible()


def test_an_admin_adds_a_user_who_can_then_log_in_and_is_audited(new_page):
    newcomer, password = "e2e.newcomer", "a-long-password-7"
    admin = new_page()
    log_in(admin, "ada")
    click_nav(admin, "Admin")
    expect_page(admin, "admin", "ada")

    form = admin.get_by_test_id("stForm").filter(has_text="Add a user")
    form.get_by_role("textbox", name="User name", exact=True).fill(newcomer)
    form.get_by_role("combobox", name="Role").click()
    admin.get_by_role("option", name="Data scientist", exact=True).click()
    expect(form.get_by_role("combobox", name="Role")).to_have_value("Data scientist")
    form.get_by_role("textbox", name="E-mail (optional)", exact=True).fill("newcomer@example.org")
    form.get_by_role("textbox", name="Password", exact=True).fill(password)
    after_run(admin, form.get_by_role("button", name="Add user", exact=True).click)
    assert_no_error(admin)
    expect(main(admin).get_by_text(f"Added {newcomer} as data scientist.")).to_be_visible()
    # The Audit log tab of this same run already holds the event (the tab is drawn after the form).
    admin.get_by_role("tab", name="Audit log").click()
    expect(grid_row(admin, "user.create", f"user {newcomer}", "ada")).to_have_count(1)
    # The Users table is drawn before the form handles the click, so it lists the newcomer from the next run on.
    open_by_url(admin, "/admin")
    expect_page(admin, "admin", "ada")
    admin.get_by_role("tab", name="Users").click()
    expect(grid_row(admin, newcomer, "Data scientist", "newcomer@example.org", "never")).to_have_count(1)

    # The newcomer logs in from another browser session and gets a data scientist's pages.
    colleague = new_page()
    log_in(colleague, newcomer, password)
    expect(sidebar(colleague).get_by_text("Logged in as")).to_contain_text("Data scientist")
    expect(colleague.get_by_test_id("stSidebarNavLink")).to_have_count(len(PAGES_BY_ROLE[Role.DATA_SCIENTIST]))
    assert set(sidebar_pages(colleague)) == PAGES_BY_ROLE[Role.DATA_SCIENTIST]

    # The audit log, read again, has the newcomer's login after the creation.
    open_by_url(admin, "/admin")
    expect_page(admin, "admin", "ada")
    admin.get_by_role("tab", name="Audit log").click()
    expect(grid_row(admin, "user.create", f"user {newcomer}", "ada")).to_have_count(1)
    expect(grid_row(admin, "login", f"user {newcomer}", newcomer)).to_have_count(1)


def test_a_data_scientist_imports_a_csv_then_picks_and_profiles_it(new_page, tmp_path):
    dataset, file = "e2e-upload", tmp_path / "e2e upload.csv"
    file.write_text("ticket,priority\nPrinter jams,low\nCannot log in,high\nRefund please,medium\nApp crashes,high\n")
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Data")
    expect_page(page, "data", "dan")
    assert dataset not in selectbox_options(page, "Dataset")

    import_file(page, file, dataset)
    assert_no_error(page)
    expect(import_box(page).get_by_test_id("stAlertContentSuccess")).to_have_text(
        f"Imported {dataset}@1: 4 rows, 2 columns (csv).")
    expect(selectbox(page, "Dataset")).to_have_value(dataset)  # the import selects what it made

    # From a fresh run of the page, the new dataset is offered and picked like any other, and profiles.
    open_by_url(page, "/data")
    expect_page(page, "data", "dan")
    assert {dataset, "support-tickets", "support-chat-sft"} <= set(selectbox_options(page, "Dataset"))
    choose(page, "Dataset", "support-tickets")
    choose(page, "Dataset", dataset)
    expect(version_caption(page, f"{dataset}@1")).to_contain_text("4 rows · Imported from e2e upload.csv")
    profile_version(page)
    expect(metric(page, "Rows")).to_have_text("4")
    expect(metric(page, "Columns")).to_have_text("2")
    expect(grid_row(page, "priority").first).to_be_attached()


def test_a_malformed_csv_is_refused_with_one_sentence_and_no_dataset(new_page, tmp_path):
    dataset, file = "e2e-ragged", tmp_path / "ragged.csv"
    file.write_text("a,b\n1,2\n3,4,5\n")
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Data")
    expect_page(page, "data", "dan")

    import_file(page, file, dataset)
    assert_no_error(page)
    error = main(page).get_by_test_id("stAlertContentError")
    expect(error).to_have_count(1)  # the whole page has this one error, in the import box
    expect(import_box(page).get_by_test_id("stAlertContentError")).to_have_text(
        "ragged.csv, line 3: expected 2 fields but found 3.")
    expect(import_box(page).get_by_test_id("stAlertContentSuccess")).to_have_count(0)
    assert dataset not in selectbox_options(page, "Dataset")
    # Nor in a fresh run of the page.
    open_by_url(page, "/data")
    expect_page(page, "data", "dan")
    options = selectbox_options(page, "Dataset")
    assert "support-tickets" in options and dataset not in options


def test_a_data_scientist_profiles_redacts_and_follows_the_lineage(new_page):
    page = new_page()
    log_in(page, "dan")
    click_nav(page, "Data")
    expect_page(page, "data", "dan")
    choose(page, "Dataset", "support-tickets")
    choose(page, "Version", "1")
    profile_version(page)
    expect(metric(page, "Rows")).not_to_have_text("0")
    alerts = alerts_table(page)
    expect(alerts).to_have_count(1)
    expect(alerts.get_by_role("cell").filter(has_text="personal data").first).to_be_attached()
    expect(alerts.locator("tbody tr").filter(has_text="high").filter(has_text="personal data").first).to_be_attached()

    redact_into_new_version(page, "support-tickets@1", "support-tickets@2")
    show_lineage(page, "support-tickets", "support-tickets@2", "support-tickets@1")


def test_screenshots_of_the_main_pages(new_page, screenshot_dir):
    """README pictures: docs/screenshots with WORKBENCH_UPDATE_SCREENSHOTS=1, else .test-artifacts/screenshots."""
    shots = []

    def shoot(page: Page, name: str) -> None:
        wait_until_idle(page)
        assert_no_error(page)
        page.evaluate("document.fonts.ready.then(() => true)")  # icon ligatures drawn as icons, not words
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        shots.append(path)

    admin = new_page()
    admin.goto("/")
    expect_login_form(admin)
    shoot(admin, "login")

    log_in(admin, "ada")
    expect(main(admin).get_by_role("heading", name="Recent activity")).to_be_visible()
    expect(grid_row(admin, "user.create").first).to_be_attached()  # changes, not logins
    shoot(admin, "home-admin")

    click_nav(admin, "Models")
    expect_page(admin, "models", "ada")
    expect(admin.get_by_test_id("stJson")).to_be_visible()
    expect(grid_row(admin, "smollm2-135m-instruct")).to_have_count(1)
    shoot(admin, "models")

    click_nav(admin, "Admin")
    expect_page(admin, "admin", "ada")
    expect(main(admin).get_by_role("heading", name="Add a user")).to_be_visible()
    expect(grid_row(admin, "ada").first).to_be_attached()
    shoot(admin, "admin-users")

    admin.get_by_role("tab", name="Audit log").click()
    expect(main(admin).get_by_test_id("stDownloadButton")).to_be_visible()
    expect(main(admin).get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible()
    expect(grid_row(admin, "user.create").first).to_be_attached()
    shoot(admin, "admin-audit")

    scientist = new_page()
    log_in(scientist, "dan")
    click_nav(scientist, "Data")
    expect_page(scientist, "data", "dan")
    choose(scientist, "Dataset", "support-tickets")
    choose(scientist, "Version", "1")
    profile_version(scientist)
    alerts = alerts_table(scientist)
    expect(alerts.get_by_role("cell").filter(has_text="personal data").first).to_be_attached()
    # The profile's tiles at the top of the picture: the alerts below them wrap long findings onto more lines.
    scroll_to_top(scientist, main(scientist).get_by_test_id("stMetric").filter(
        has=scientist.get_by_test_id("stMetricLabel").get_by_text("Alerts", exact=True)))
    expect(metric(scientist, "Alerts")).to_be_in_viewport(ratio=1)
    expect(alerts).to_be_in_viewport(ratio=1)
    shoot(scientist, "data-profile")

    redact_into_new_version(scientist, "support-tickets@1", "support-tickets@2")
    show_lineage(scientist, "support-tickets", "support-tickets@2", "support-tickets@1")
    scroll_to_top(scientist, version_caption(scientist, "support-tickets@2"))
    expect(grid_with_columns(scientist, "Version", "Parents")).to_be_in_viewport(ratio=1)
    shoot(scientist, "data-lineage")

    annotator = new_page()
    log_in(annotator, "ann")
    # The annotator's home lists their rating queue (none sent to them yet in this home).
    expect(main(annotator).get_by_role("heading", name="Your rating queue")).to_be_visible()
    expect(main(annotator).get_by_text("Nothing to rate yet")).to_be_visible()
    shoot(annotator, "home-annotator")

    for path in shots:
        assert path.stat().st_size > 10_000, f"{path} looks empty"
