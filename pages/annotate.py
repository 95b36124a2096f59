"""Annotate: the annotator's own queue, one item at a time, blind, keyboard-first."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth, services
from workbench.ui import errors, feedback_view

actor = auth.require_page(Permission.ANNOTATE)
store = services.store()

st.header("Rate model outputs")
st.caption("Read the prompt, judge the response(s) by the guidelines, and submit. Model names are hidden and the "
           "sides are shuffled for you; your answers are saved as you submit, and you can go back and change them.")
with errors.shown_to_user():
    feedback_view.annotator_page(store, actor)
