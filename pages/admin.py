"""Admin: manage users and read the audit log."""
import datetime as dt
import json

import pandas as pd
import streamlit as st

from core.exports import neutralise_cell
from core.governance import audit, users
from core.governance.roles import ROLE_LABELS, Permission, Role
from workbench import auth, services
from workbench.ui import charts, errors, keys_view, tables
from workbench.ui.text import inert

actor = auth.require_page(Permission.MANAGE_USERS)
store = services.store()
ROLES = list(Role)

st.header("Admin")
users_tab, audit_tab, keys_tab = st.tabs(["Users", "Audit log", "API keys"])

def done(message: str) -> None:
    """Show the outcome after a rerun, so the table and pickers already include the change."""
    st.session_state["admin.flash"] = message
    st.rerun()


with users_tab, errors.shown_to_user():
    if "admin.flash" in st.session_state:
        st.success(st.session_state.pop("admin.flash"))
    accounts = users.list_users(store, actor=actor)
    tables.show([
        {"User": u.name, "Role": u.role.label, "E-mail": u.email or "", "Login": u.auth_provider,
         "Active": u.active, "Locked": "until " + u.locked_until.strftime("%H:%M UTC") if u.locked else "",
         "Created": u.created_at.strftime("%Y-%m-%d %H:%M"),
         "Last login": u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"}
        for u in accounts
    ])

    add_col, change_col = st.columns(2)
    with add_col, st.form("admin.add_user", clear_on_submit=True):
        st.subheader("Add a user")
        name = st.text_input("User name", help="2-64 letters, digits, dots, dashes, underscores or @.")
        role = st.selectbox("Role", ROLES, format_func=ROLE_LABELS.get, index=ROLES.index(Role.VIEWER))
        email = st.text_input("E-mail (optional)")
        password = st.text_input("Password", type="password", help="At least 8 characters.")
        if st.form_submit_button("Add user", type="primary"):
            with errors.shown_to_user():
                created = users.create_user(store, actor=actor, name=name, role=role, password=password, email=email)
                done(f"Added {inert(created.name)} as {created.role.label.lower()}.")

    with change_col:
        st.subheader("Change a user")
        target = st.selectbox("User", [u.name for u in accounts], key="admin.target")
        chosen = next(u for u in accounts if u.name == target)
        new_role = st.selectbox("Role", ROLES, format_func=ROLE_LABELS.get, index=ROLES.index(chosen.role),
                                key=f"admin.role.{target}")
        if st.button("Save role", key="admin.save_role"):
            with errors.shown_to_user():
                users.set_role(store, actor=actor, name=target, role=new_role)
                done(f"{inert(target)} is now {new_role.label.lower()}.")
        label = "Disable account" if chosen.active else "Enable account"
        if st.button(label, key="admin.toggle_active"):
            with errors.shown_to_user():
                users.set_active(store, actor=actor, name=target, active=not chosen.active)
                done(f"{inert(target)} is now {'enabled' if not chosen.active else 'disabled'}.")
        if chosen.locked and st.button("Unlock", key="admin.unlock",
                                       help="Lift the lock left by too many failed logins before it runs out."):
            with errors.shown_to_user():
                users.unlock(store, actor=actor, name=target)
                done(f"{inert(target)} is unlocked.")
        if chosen.auth_provider == "local":
            new_password = st.text_input("New password", type="password", key=f"admin.password.{target}")
            if st.button("Reset password", key="admin.reset_password"):
                with errors.shown_to_user():
                    users.set_password(store, actor=actor, name=target, new_password=new_password)
                    done(f"{inert(target)}'s password was reset; their open logins were ended.")

with audit_tab, errors.shown_to_user():
    present = audit.distinct_values(store, actor=actor)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.6])
    who = c1.selectbox("Who", ["(anyone)"] + present["actor"], key="admin.audit.actor")
    action = c2.selectbox("Action", ["(any)"] + present["action"], key="admin.audit.action")
    target_type = c3.selectbox("Target", ["(any)"] + present["target_type"], key="admin.audit.target")
    today = dt.date.today()
    days = c4.date_input("Between", (today - dt.timedelta(days=30), today), key="admin.audit.days")
    since, until = (days if isinstance(days, tuple) and len(days) == 2 else (days[0], days[0])) if days else (None, None)
    filters = audit.AuditFilter(
        actor=None if who == "(anyone)" else who,
        action=None if action == "(any)" else action,
        target_type=None if target_type == "(any)" else target_type,
        since=dt.datetime.combine(since, dt.time.min, tzinfo=dt.timezone.utc) if since else None,
        until=dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone.utc) if until else None,
        limit=5000,
    )
    events = audit.list_events(store, actor=actor, filters=filters)
    rows = [
        {"when": e.at.strftime("%Y-%m-%d %H:%M:%S"), "who": e.actor, "role": audit.role_label(e.actor_role),
         "via": e.via or "", "action": e.action, "target": f"{e.target_type} {e.target_id}", "before": e.before,
         "after": e.after, "detail": e.detail or ""}
        for e in events
    ]
    if not rows:
        st.info("No audit events match these filters; widen the dates or clear a filter.")
    else:
        charts.audit_activity(rows)
        shown = [{**r, "before": json.dumps(r["before"]) if r["before"] else "", "after": json.dumps(r["after"]) if r["after"] else ""} for r in rows]
        tables.show(shown, height=420)
        csv = pd.DataFrame(shown).map(neutralise_cell).to_csv(index=False)
        st.download_button("Download as CSV", csv, file_name="workbench-audit.csv", mime="text/csv")
        st.caption(f"{len(rows):,} event(s), newest first; times in UTC.")

with keys_tab, errors.shown_to_user():
    keys_view.show_keys(store, actor)
