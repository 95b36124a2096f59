"""Command groups of the `workbench` CLI, one module each with `register(commands, add)`; the plumbing they share
is in context.py."""
from __future__ import annotations

import importlib

# In the order `workbench --help` lists them.
GROUPS = ("app", "users", "models", "data", "generate", "audit", "prompts", "compare", "pipelines", "finetune", "eval",
          "jobs", "events", "kpi", "serve", "feedback", "monitor", "demo")


def register_all(commands, add) -> None:
    for name in GROUPS:
        try:
            module = importlib.import_module(f"workbench.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"workbench.commands.{name}":
                raise
            continue  # a group still being written
        module.register(commands, add)
