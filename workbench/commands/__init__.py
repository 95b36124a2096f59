"""Command groups of the `workbench` CLI that live in their own modules; each has `register(commands, add)`."""
from __future__ import annotations

import importlib

GROUPS = ("prompts", "compare", "pipelines", "finetune", "eval", "jobs", "events", "kpi", "serve", "feedback", "monitor")


def register_all(commands, add) -> None:
    for name in GROUPS:
        try:
            module = importlib.import_module(f"workbench.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"workbench.commands.{name}":
                raise
            continue  # a group still being written
        module.register(commands, add)
