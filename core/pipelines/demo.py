"""The demo pipeline: summarise each support ticket, have a model rate how hard the summary is to read, and
measure its Flesch reading ease and length. Only the definition is saved; nothing runs."""
from __future__ import annotations

from core.governance.roles import Actor
from core.storage.db import Store

DEMO_PIPELINE = "summarise-then-rate"
DEMO_DATASET = "support-tickets"
SUMMARY_TEMPLATE = "ticket-summary"
RATING_TEMPLATE = "summary-difficulty"
# Two worked examples, so that even the small bundled model answers with a number.
RATING_BODY = ("Text: The cat sat on the mat.\nDifficulty: 1\n\n"
               "Text: Notwithstanding the aforementioned contractual stipulations, liabilities accrue retroactively.\n"
               "Difficulty: 5\n\nText: {{ summary }}\nDifficulty:")
RATING_SYSTEM = ("You rate how hard texts are to read, from 1 (very easy) to 5 (very hard). You reply with the digit "
                 "only.")
# Template variables the demo templates may use -> the support-tickets column that fills them.
COLUMN_FOR = {"ticket": "body", "text": "body", "body": "body", "subject": "subject", "product": "product",
              "priority": "priority", "customer_tier": "customer_tier", "channel": "channel"}


def seed_pipeline(store: Store, *, actor: Actor) -> list[str]:
    """Saves the demo pipeline (and the small rating template it needs) unless it exists; returns what was made.

    Needs the demo template `ticket-summary` and the bundled chat model; without either it saves nothing
    (e.g. a home set up with `workbench init --no-models`).
    """
    from core.errors import NotFound
    from core.models import bundled, registry
    from core.pipelines.definitions import list_pipelines, save_pipeline
    from core.prompts import templates

    if any(p.name == DEMO_PIPELINE for p in list_pipelines(store, actor=actor)):
        return []
    model = bundled.DEFAULT_CHAT_MODEL
    if not registry.is_registered(store, model):
        return []
    try:
        summary = templates.get_version(store, actor=actor, ref=f"{SUMMARY_TEMPLATE}@production")
    except NotFound:
        try:
            summary = templates.get_version(store, actor=actor, ref=SUMMARY_TEMPLATE)
        except NotFound:
            return []
    unknown = [v for v in summary.variables if v not in COLUMN_FOR]
    if unknown:
        return []
    rating, _ = templates.save_version(store, actor=actor, name=RATING_TEMPLATE, body=RATING_BODY, system=RATING_SYSTEM,
                                       note="Demo: the second step of the summarise-then-rate pipeline.",
                                       description="Rate how hard a summary is to read, 1 (easy) to 5 (hard).")
    steps = [
        {"name": "summary", "kind": "generate", "template": summary.ref, "model": model,
         "inputs": {v: f"column:{COLUMN_FOR[v]}" for v in summary.variables}, "settings": {"max_new_tokens": 48}},
        {"name": "difficulty", "kind": "generate", "template": rating.ref, "model": model,
         "inputs": {"summary": "step:summary"}, "numeric": True, "settings": {"max_new_tokens": 6}},
        {"name": "readability", "kind": "metric", "metric": "readability", "output": "step:summary"},
        {"name": "words", "kind": "metric", "metric": "length_words", "output": "step:summary"},
    ]
    save_pipeline(store, actor=actor, name=DEMO_PIPELINE, steps=steps,
                  description=f"Summarise each {DEMO_DATASET} ticket with {SUMMARY_TEMPLATE}, have the model rate the "
                              "summary's reading difficulty (1-5), and measure its Flesch reading ease and length.")
    return [DEMO_PIPELINE]
