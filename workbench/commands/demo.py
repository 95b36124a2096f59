"""`workbench demo seed`: demo accounts (one per role) and demo content."""
from __future__ import annotations

from workbench.commands.context import add_group


def cmd_seed(ctx) -> int:
    from core import demo

    report = demo.seed_demo(ctx.store, actor=ctx.actor)
    created = ", ".join(report.users_created) or "nothing new"
    return ctx.show(report.__dict__, f"Demo seeded ({created}); logins are in {report.logins_file}")


def register(commands, add) -> None:
    sub = add_group(commands, "demo", "Demo content.")
    add(sub, "seed", cmd_seed, "Add demo accounts (one per role) and demo content; keeps what exists.")
