"""What the home page shows: counts of what the workbench holds, chosen by what the role may see."""
from __future__ import annotations

from dataclasses import dataclass

from core.data import versions
from core.governance import audit, users
from core.governance.roles import Actor, Permission
from core.models import registry
from core.storage.db import Store


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: int
    page: str  # the page (url path) where the user acts on it
    help: str


def tiles_for(store: Store, *, actor: Actor) -> list[Tile]:
    tiles: list[Tile] = []
    if actor.can(Permission.VIEW_DATA_ROWS):
        tiles.append(Tile("datasets", "Datasets", versions.count_datasets(store), "data",
                          "Datasets with their immutable versions."))
    if actor.can(Permission.VIEW_MODELS):
        tiles.append(Tile("models", "Models", registry.count_models(store), "models",
                          "Registered models, bundled ones included."))
    if actor.can(Permission.MANAGE_USERS):
        tiles.append(Tile("users", "Users", users.count_users(store), "admin", "Accounts that can log in."))
    if actor.can(Permission.VIEW_AUDIT):
        tiles.append(Tile("audit", "Audit events", audit.count_events(store), "admin", "Every change, who made it and when."))
    return tiles


def recent_activity(store: Store, *, actor: Actor, limit: int = 10) -> list[dict]:
    """The latest changes, for those allowed to read the audit log: logins and logouts are left to the full log
    (they would fill the list), failed logins and lockouts stay."""
    if not actor.can(Permission.VIEW_AUDIT):
        return []
    events = audit.list_events(store, actor=actor,
                               filters=audit.AuditFilter(limit=limit, exclude_actions=("login", "logout")))
    return [
        {"when": e.at.strftime("%Y-%m-%d %H:%M:%S") + " UTC", "who": e.actor + (f" (via {e.via})" if e.via else ""),
         "action": e.action, "target": f"{e.target_type} {e.target_id}"}
        for e in events
    ]
