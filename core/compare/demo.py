"""The demo comparison: two versions of the demo reply template on four support tickets, with the bundled model."""
from __future__ import annotations

from core.compare import runs
from core.governance.roles import Actor, Permission, require
from core.inference.generate import GenerationSettings
from core.storage.db import Store

DEMO_NAME = "Demo: ticket replies, first draft vs. persona and length limit"
DEMO_PROMPTS = ("ticket-reply@1", "ticket-reply@2")
DEMO_DATASET = "support-tickets"
DEMO_ROWS = 4
DEMO_REFERENCE = "agent_reply"
DEMO_MAX_NEW_TOKENS = 48


def seed_comparison(store: Store, *, actor: Actor, progress: runs.Progress | None = None) -> runs.RunInfo | None:
    """Runs and saves the demo comparison when no comparison run exists yet; returns it, or None when nothing was
    done (a run exists already, or the demo templates, dataset or bundled chat model are missing)."""
    from core.data import versions
    from core.errors import NotFound
    from core.models import bundled, registry
    from core.prompts import templates

    require(actor, Permission.SEED_DEMO)
    if runs.count_runs(store):
        return None
    if not registry.is_registered(store, bundled.CHAT_MODEL.name):
        return None
    try:
        for ref in DEMO_PROMPTS:
            templates.get_version(store, actor=actor, ref=ref)
        dataset = versions.get_version(store, actor=actor, ref=DEMO_DATASET)
    except NotFound:
        return None
    return runs.run_comparison(
        store, actor=actor, prompts=list(DEMO_PROMPTS), models=[bundled.CHAT_MODEL.name],
        dataset_version=dataset.ref, rows=DEMO_ROWS, reference_column=DEMO_REFERENCE,
        settings=GenerationSettings(max_new_tokens=DEMO_MAX_NEW_TOKENS), metrics=None, name=DEMO_NAME,
        progress=progress)
