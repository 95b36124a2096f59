"""Deployments on the Models page: what each serves, its versions, its traffic from the event log, the lineage back
to the adapter's job and dataset, and (for data scientists and admins) promote, roll back and split traffic."""
from __future__ import annotations

import json

import streamlit as st

from core.governance.roles import Actor, Permission
from core.serving import deployments
from core.storage.db import Store
from workbench.ui import charts, errors, tables


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def show_deployments(store: Store, actor: Actor) -> None:
    st.subheader("Deployments")
    st.caption("A deployment is a named, versioned pointer applications call as `model` through `workbench serve`. "
               "CLI: `workbench deploy NAME --model M`, `workbench deployments promote|rollback|traffic`.")
    found = deployments.list_deployments(store, actor=actor)
    if not found:
        st.info("No deployment yet. Make one with `workbench deploy NAME --model MODEL`.")
        return
    tables.show([{"Deployment": d.name, "Serving": f"v{d.current_version}" if d.current_version else "-",
                  "Model": d.current.model if d.current else "-",
                  "Template": (d.current.template or "-") if d.current else "-",
                  "A/B candidate": f"v{d.candidate_version} ({d.candidate_weight:.0%} of users)"
                  if d.candidate_version else "-", "Versions": len(d.versions)} for d in found])
    name = st.selectbox("Deployment", [d.name for d in found], key="models.deployment")
    deployment = next(d for d in found if d.name == name)
    tables.show([{"Version": v.version, "Model": v.model, "Template": v.template or "-",
                  "Defaults": json.dumps(v.defaults) if v.defaults else "-", "Fallback": v.fallback_model or "-",
                  "Made by": v.created_by, "Made": _when(v.created_at),
                  "Promoted": f"{_when(v.promoted_at)} by {v.promoted_by}" if v.promoted_at else "-",
                  "Gate": (v.gate_result or {}).get("summary", "-") if v.gate_result else "-",
                  "Note": v.note or ""} for v in deployment.versions])
    traffic = deployments.traffic(store, actor=actor, name=name)
    if traffic:
        tables.show([{"Version": t["version"], "Arm": t["arm"] or "-", "Calls": t["calls"], "Errors": t["errors"],
                      "Thumbs up": t["thumbs_up"], "With feedback": t["feedback"]} for t in traffic])
        charts.bars([f"v{t['version']} {t['arm'] or ''}".strip() for t in traffic], [t["calls"] for t in traffic],
                    title="Calls served per version and arm")
    else:
        st.caption("No traffic logged for this deployment yet.")
    if deployment.current_version:
        st.markdown("**Lineage of the serving version**")
        lineage = deployments.lineage(store, actor=actor, name=name)
        tables.show([{"Step": key.replace("_", " "), "Value": str(value)}
                     for key, value in lineage.items() if value is not None])
    if actor.can(Permission.MANAGE_DEPLOYMENTS):
        _actions(store, actor, deployment)


def _actions(store: Store, actor: Actor, deployment: deployments.DeploymentInfo) -> None:
    others = [v.version for v in deployment.versions if v.version != deployment.current_version]
    promote_col, rollback_col, split_col = st.columns(3)
    with promote_col:
        if others:
            version = st.selectbox("Version to promote", others, index=len(others) - 1,
                                   key=f"models.promote.{deployment.name}")
            if st.button("Promote", key="models.promote_button"):
                with errors.shown_to_user():
                    deployments.promote(store, actor=actor, name=deployment.name, version=version)
                    st.session_state["models.notice"] = f"{deployment.name} now serves v{version}."
                    st.rerun()
    with rollback_col:
        if st.button("Roll back", key="models.rollback_button",
                     help="Serve again the version promoted before the current one."):
            with errors.shown_to_user():
                done = deployments.rollback(store, actor=actor, name=deployment.name)
                st.session_state["models.notice"] = f"{deployment.name} rolled back to v{done.current_version}."
                st.rerun()
    with split_col:
        if others:
            candidate = st.selectbox("A/B candidate", others, key=f"models.candidate.{deployment.name}")
            weight = st.slider("Share of end users", 0, 100, int(deployment.candidate_weight * 100), step=5,
                               key=f"models.weight.{deployment.name}")
            if st.button("Set traffic split", key="models.split_button"):
                with errors.shown_to_user():
                    deployments.set_traffic(store, actor=actor, name=deployment.name, candidate=candidate,
                                            weight=weight / 100)
                    st.session_state["models.notice"] = (f"{deployment.name}: v{candidate} takes {weight}% of end "
                                                         "users." if weight else f"{deployment.name}: split ended.")
                    st.rerun()
