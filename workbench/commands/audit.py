"""`workbench audit list`: the audit log (admins)."""
from __future__ import annotations

from workbench.commands.context import add_group


def cmd_list(ctx) -> int:
    from core.governance import audit

    args = ctx.args
    events = audit.list_events(ctx.store, actor=ctx.actor, filters=audit.AuditFilter(
        actor=args.actor, action=args.action, target_type=args.target, limit=args.limit))
    rows = [{**audit.to_row(e), "target": f"{e.target_type}:{e.target_id}"} for e in events]
    return ctx.table(rows, [{"at": r["at"], "actor": r["actor"], "role": r["actor_role"], "via": r["via"] or "",
                             "action": r["action"], "target": r["target"]} for r in rows])


def register(commands, add) -> None:
    sub = add_group(commands, "audit", "The audit log (admins).")
    audit_list = add(sub, "list", cmd_list, "List audit events, newest first.")
    audit_list.add_argument("--actor")
    audit_list.add_argument("--action", help="Action or its prefix, e.g. user. or user.create")
    audit_list.add_argument("--target", help="Target type, e.g. user or model.")
    audit_list.add_argument("--limit", type=int, default=100)
