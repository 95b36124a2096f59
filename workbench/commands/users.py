"""`workbench users ...`: local accounts and their roles (admins)."""
from __future__ import annotations

import getpass
import sys

from core.errors import InvalidInput
from workbench.commands.context import add_group


def read_password(*, confirm: bool = True) -> str:
    """From stdin when it is not a terminal (scripts), else prompted twice."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("No password on standard input; pipe one line holding the password.")
        return password
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Password again: ") != password:
        raise InvalidInput("The two passwords differ; nothing was changed.")
    return password


def cmd_add(ctx) -> int:
    from core.governance import users
    from core.governance.roles import Role

    args = ctx.args
    Role.parse(args.role)  # a wrong role or name is reported before the password is asked for
    users.validate_name(args.name)
    store = ctx.store
    password = read_password()
    user = users.create_user(store, actor=ctx.actor, name=args.name, role=args.role, password=password,
                             email=args.email)
    return ctx.show(user.to_dict(), f"Added {user.name} as {user.role.label.lower()}.")


def cmd_list(ctx) -> int:
    from core.governance import users

    accounts = users.list_users(ctx.store, actor=ctx.actor)
    return ctx.table([u.to_dict() for u in accounts],
                     [{"name": u.name, "role": u.role.value, "active": "yes" if u.active else "no",
                       "login": u.auth_provider, "email": u.email or ""} for u in accounts])


def cmd_set_role(ctx) -> int:
    from core.governance import users

    user = users.set_role(ctx.store, actor=ctx.actor, name=ctx.args.name, role=ctx.args.role)
    return ctx.show(user.to_dict(), f"{user.name} is now {user.role.label.lower()}.")


def cmd_enable(ctx, active: bool) -> int:
    from core.governance import users

    user = users.set_active(ctx.store, actor=ctx.actor, name=ctx.args.name, active=active)
    return ctx.show(user.to_dict(), f"{user.name} is {'enabled' if active else 'disabled'}.")


def cmd_passwd(ctx) -> int:
    from core.governance import users

    store = ctx.store
    users.set_password(store, actor=ctx.actor, name=ctx.args.name, new_password=read_password())
    print(f"Set a new password for {ctx.args.name}; their open logins were ended.")
    return 0


def register(commands, add) -> None:
    sub = add_group(commands, "users", "Manage accounts (admins).")
    users_add = add(sub, "add", cmd_add, "Add a local account; the password comes from stdin or a prompt.")
    users_add.add_argument("name")
    users_add.add_argument("--role", required=True, help="admin, data_scientist, annotator or viewer.")
    users_add.add_argument("--email")
    add(sub, "list", cmd_list, "List accounts.")
    set_role = add(sub, "set-role", cmd_set_role, "Change an account's role.")
    set_role.add_argument("name")
    set_role.add_argument("role")
    for action, active in (("enable", True), ("disable", False)):
        toggle = add(sub, action, lambda ctx, active=active: cmd_enable(ctx, active),
                     f"{action.capitalize()} an account{'; its open logins end' if not active else ''}.")
        toggle.add_argument("name")
    passwd = add(sub, "passwd", cmd_passwd, "Set an account's password (stdin or prompt).", json_flag=False)
    passwd.add_argument("name")
