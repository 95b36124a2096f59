"""Account: who you are, what your role allows, your password."""
import streamlit as st

from core.governance import users
from core.governance.roles import ROLE_PERMISSIONS, Permission
from workbench import auth, services
from workbench.ui import errors
from workbench.ui.text import inert

actor = auth.require_page(None)
store = services.store()

st.header("Account")
with errors.shown_to_user():
    me = users.get_user(store, actor.name)
    st.markdown(f"**{inert(me.name)}** · {me.role.label}" + (f" · {inert(me.email)}" if me.email else ""))
    allowed = sorted(p.value.replace("_", " ") for p in ROLE_PERMISSIONS[me.role])
    st.caption("Your role allows: " + ", ".join(allowed) + ".")

    if me.auth_provider == "local":
        with st.form("account.password", clear_on_submit=True):
            st.subheader("Change your password")
            current = st.text_input("Current password", type="password")
            new = st.text_input("New password", type="password", help="At least 8 characters.")
            again = st.text_input("New password again", type="password")
            if st.form_submit_button("Change password"):
                with errors.shown_to_user():
                    if new != again:
                        st.error("The two new passwords differ; nothing was changed.")
                    else:
                        users.set_password(store, actor=actor, name=me.name, new_password=new, current_password=current)
                        st.success("Password changed. Log in again with the new one.")
    else:
        st.caption("You log in through single sign-on; your password is managed there.")

if st.button("Log out", key="account.logout"):
    auth.log_out()
