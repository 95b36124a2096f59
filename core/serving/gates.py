"""The promotion gate: asked before a deployment version is promoted. The evaluation issue fills it in.

`check_promotion` returns None (no gate configured: the promotion goes ahead, nothing recorded) or a dict with at
least {"passed": bool, "summary": str}; the dict is stored on the version as its gate result, and a failed gate
refuses the promotion unless the caller forces it (the force is audited).
"""
from __future__ import annotations

from typing import Any

from core.governance.roles import Actor
from core.storage.db import Store


def check_promotion(store: Store, *, actor: Actor, deployment: str, version: dict[str, Any]) -> dict[str, Any] | None:
    """The gate's verdict on promoting `version` (a DeploymentVersionInfo.to_dict()) of `deployment`: the release gate
    set for the deployment (core.evaluation.gates), which also freezes the version's model card."""
    from core.evaluation import gates

    return gates.check_promotion(store, actor=actor, deployment=deployment, version=version)
