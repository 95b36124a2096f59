"""Entrypoint: `streamlit run workbench/app.py`. Login gate, then the pages the user's role may use."""
from __future__ import annotations

import streamlit as st

from workbench import auth, services
from workbench.navigation import PAGES
from workbench.ui import no_such_page
from workbench.ui.text import inert

st.set_page_config(page_title="LLMOps Workbench", page_icon=":material/hub:", layout="wide")

services.store()  # applies pending migrations before anything reads the database
user = auth.current_user()

if user is None:
    # Every page's URL leads to the login form (not Streamlit's "page not found"), and after logging in the
    # rerun opens the page that was asked for.
    login_pages = [st.Page(auth.login_page, title="Log in", icon=":material/login:", url_path="login", default=True)]
    login_pages += [st.Page(auth.login_page, title=spec.title, url_path=spec.url_path, visibility="hidden")
                    for spec in PAGES]
    login_pages += no_such_page.pages_for({"login", *(spec.url_path for spec in PAGES)})
    st.navigation(login_pages, position="hidden").run()
    st.stop()

actor = user.as_actor()
sections: dict[str, list] = {}
for spec in PAGES:
    # Pages the role may not use stay reachable by URL but hidden, so that they answer 'not authorised'
    # themselves instead of silently landing on the home page.
    page = st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path,
                   default=spec.url_path == "home", visibility="visible" if spec.allowed(actor) else "hidden")
    sections.setdefault(spec.section, []).append(page)

if missing := no_such_page.pages_for({spec.url_path for spec in PAGES}):
    sections.setdefault(PAGES[0].section, []).extend(missing)
navigation = st.navigation(sections, expanded=True)  # every page in view; no "View N more" fold
with st.sidebar:
    st.caption(f"Logged in as **{inert(user.name)}** · {user.role.label}")
    if st.button("Log out", key="app.logout", icon=":material/logout:"):
        auth.log_out()
navigation.run()
