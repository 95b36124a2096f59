"""Demo deployment: "support-bot" on the bundled chat model. Version 1 uses the first ticket-reply template,
version 2 the one labelled production (with shorter answers) and serves; the event simulator's traffic names both."""
from __future__ import annotations

from core.governance.roles import Actor
from core.models import bundled, registry, sources
from core.serving import deployments
from core.storage.db import Store

DEPLOYMENT = "support-bot"
DEMO_PRICE = (0.0005, 0.0015)  # USD per 1,000 input and output tokens


def seed_deployment(store: Store, *, actor: Actor) -> bool:
    """Makes the demo deployment unless one of that name exists; True when made."""
    if deployments.is_deployment(store, DEPLOYMENT) or not registry.is_registered(store, bundled.DEFAULT_CHAT_MODEL):
        return False
    model = bundled.DEFAULT_CHAT_MODEL
    if registry.get_model(store, actor=actor, name=model).price_per_1k_input == 0:
        # An internal charge-back rate for the demo, so the KPI page's cost figures (and the cost rise from day 40,
        # when prompts grow) have something to show; a real team sets its own with `workbench models set-price`.
        sources.set_price(store, actor=actor, name=model, input_per_1k=DEMO_PRICE[0], output_per_1k=DEMO_PRICE[1])
    deployments.create_version(store, actor=actor, name=DEPLOYMENT, model=model, template="ticket-reply@1",
                               defaults={"temperature": 0.0, "max_tokens": 200},
                               note="First support bot: the first ticket-reply template.")
    second = deployments.create_version(store, actor=actor, name=DEPLOYMENT, model=model,
                                        template="ticket-reply@production",
                                        defaults={"temperature": 0.0, "max_tokens": 120},
                                        note="Product persona and priority in the prompt; shorter answers.")
    deployments.promote(store, actor=actor, name=DEPLOYMENT, version=second.version)
    return True
