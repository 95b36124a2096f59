"""The `workbench` command: the same core functions as the pages, for terminals and scripts."""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from pathlib import Path

from core.errors import InvalidInput, PermissionDenied, WorkbenchError
from core.governance.roles import LOCAL_OPERATOR, Actor

APP_FILE = Path(__file__).resolve().parent / "app.py"
log = logging.getLogger("workbench.cli")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one `error: ...` line and status 2, like every other user error."""

    def error(self, message: str):
        raise InvalidInput(f"{message} (see `{self.prog} --help`)")


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def _print_table(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def _store():
    from core.home import open_store

    return open_store()


def _actor(args, store) -> Actor:
    if not args.user:
        return LOCAL_OPERATOR
    from core.governance.users import get_user

    user = get_user(store, args.user)
    if not user.active:
        raise PermissionDenied(f"The account '{user.name}' is disabled.")
    return user.as_actor()


def _read_password(args, *, confirm: bool = True) -> str:
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


# --- commands -------------------------------------------------------------------------------------------

def cmd_run(args) -> int:
    from core.home import open_store

    open_store().dispose()  # migrate before the first page asks
    command = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.port", str(args.port),
               "--server.address", args.address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    print(f"LLMOps Workbench: http://{'localhost' if args.address in ('127.0.0.1', '0.0.0.0') else args.address}:{args.port}",
          flush=True)
    os.chdir(APP_FILE.parent.parent)  # .streamlit/config.toml is read from the working folder
    os.execv(sys.executable, command)
    return 0


def cmd_init(args) -> int:
    from core.home import init_workbench

    report = init_workbench(with_models=not args.no_models,
                            progress=None if args.json else (lambda m: print(m, flush=True)))
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(f"Workbench home: {report.home}")
    print(f"Database: {report.database} (schema {report.schema_revision})")
    if report.admin_created:
        print(f"Created the first admin 'admin'; its password is in {report.admin_password_file}")
    for name in report.models_registered:
        print(f"Registered bundled model {name}")
    return 0


def cmd_doctor(args) -> int:
    from core.doctor import run_checks
    from core.settings import Settings

    checks = run_checks(Settings.from_env())
    failed = [c for c in checks if c.required and not c.ok]
    if args.json:
        _print_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "note")
            print(f"[{mark}] {c.name}: {c.detail}")
    return 1 if failed else 0


def cmd_users_add(args) -> int:
    from core.governance import users

    from core.governance.roles import Role

    Role.parse(args.role)  # a wrong role or name is reported before the password is asked for
    users.validate_name(args.name)
    store = _store()
    password = _read_password(args)
    user = users.create_user(store, actor=_actor(args, store), name=args.name, role=args.role, password=password,
                             email=args.email)
    if args.json:
        _print_json(user.to_dict())
    else:
        print(f"Added {user.name} as {user.role.label.lower()}.")
    return 0


def cmd_users_list(args) -> int:
    from core.governance import users

    store = _store()
    accounts = users.list_users(store, actor=_actor(args, store))
    if args.json:
        _print_json([u.to_dict() for u in accounts])
    else:
        _print_table([{"name": u.name, "role": u.role.value, "active": "yes" if u.active else "no",
                       "login": u.auth_provider, "email": u.email or ""} for u in accounts])
    return 0


def cmd_users_set_role(args) -> int:
    from core.governance import users

    store = _store()
    user = users.set_role(store, actor=_actor(args, store), name=args.name, role=args.role)
    _print_json(user.to_dict()) if args.json else print(f"{user.name} is now {user.role.label.lower()}.")
    return 0


def cmd_users_enable(args, active: bool) -> int:
    from core.governance import users

    store = _store()
    user = users.set_active(store, actor=_actor(args, store), name=args.name, active=active)
    _print_json(user.to_dict()) if args.json else print(f"{user.name} is {'enabled' if active else 'disabled'}.")
    return 0


def cmd_users_passwd(args) -> int:
    from core.governance import users

    store = _store()
    users.set_password(store, actor=_actor(args, store), name=args.name, new_password=_read_password(args))
    print(f"Set a new password for {args.name}; their open logins were ended.")
    return 0


def cmd_models_list(args) -> int:
    from core.models import registry

    store = _store()
    models = registry.list_models(store, actor=_actor(args, store), task=args.task)
    if args.json:
        _print_json([m.to_dict() for m in models])
    elif not models:
        print("No model is registered; run `workbench init` to install the bundled ones.")
    else:
        _print_table([{"name": m.name, "kind": m.kind, "task": m.task, "architecture": m.architecture or "",
                       "parameters": m.parameters or "", "context": m.context_length or ""} for m in models])
    return 0


def cmd_models_show(args) -> int:
    from core.models import registry

    store = _store()
    model = registry.get_model(store, actor=_actor(args, store), name=args.name)
    if args.json:
        _print_json(model.to_dict())
    else:
        for key, value in model.to_dict().items():
            print(f"{key}: {value}")
    return 0


def cmd_audit_list(args) -> int:
    from core.governance import audit

    store = _store()
    events = audit.list_events(store, actor=_actor(args, store), filters=audit.AuditFilter(
        actor=args.actor, action=args.action, target_type=args.target, limit=args.limit))
    rows = [{"at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action,
             "target": f"{e.target_type}:{e.target_id}", "before": e.before, "after": e.after, "detail": e.detail}
            for e in events]
    if args.json:
        _print_json(rows)
    else:
        _print_table([{k: v for k, v in r.items() if k in ("at", "actor", "action", "target")} for r in rows])
    return 0


def cmd_demo_seed(args) -> int:
    from core import demo

    store = _store()
    report = demo.seed_demo(store, actor=_actor(args, store))
    if args.json:
        _print_json(report.__dict__)
    else:
        created = ", ".join(report.users_created) or "nothing new"
        print(f"Demo seeded ({created}); logins are in {report.logins_file}")
    return 0


# --- parser ---------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description="LLMOps Workbench: data, prompts, fine-tunes, feedback and "
                                                   "monitoring of language models.")
    parser.add_argument("--user", metavar="NAME", help="Act as this workbench user, with that user's role "
                                                       "(default: the local operator, an admin).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(sub, name, func, help_text, json_flag=True):
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(func=func)
        if json_flag:
            command.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        return command

    run = add(commands, "run", cmd_run, "Start the app (http://localhost:8501).", json_flag=False)
    run.add_argument("--port", type=int, default=int(os.environ.get("WORKBENCH_PORT", 8501)))
    run.add_argument("--address", default=os.environ.get("WORKBENCH_ADDRESS", "127.0.0.1"),
                     help="Address to listen on; 0.0.0.0 to serve other machines.")
    init = add(commands, "init", cmd_init, "Create the workbench home, apply migrations, add the first admin and "
                                           "install the bundled models. Safe to repeat.")
    init.add_argument("--no-models", action="store_true", help="Skip installing the bundled models.")
    add(commands, "doctor", cmd_doctor, "Check Python, torch, GPUs, bundled models, the database and the home folder.")

    users = commands.add_parser("users", help="Manage accounts (admins).", description="Manage accounts (admins).")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", parser_class=_Parser, required=True)
    users_add = add(users_sub, "add", cmd_users_add, "Add a local account; the password comes from stdin or a prompt.")
    users_add.add_argument("name")
    users_add.add_argument("--role", required=True, help="admin, data_scientist, annotator or viewer.")
    users_add.add_argument("--email")
    add(users_sub, "list", cmd_users_list, "List accounts.")
    set_role = add(users_sub, "set-role", cmd_users_set_role, "Change an account's role.")
    set_role.add_argument("name")
    set_role.add_argument("role")
    for action, active in (("enable", True), ("disable", False)):
        toggle = add(users_sub, action, lambda a, active=active: cmd_users_enable(a, active),
                     f"{action.capitalize()} an account{'; its open logins end' if not active else ''}.")
        toggle.add_argument("name")
    passwd = add(users_sub, "passwd", cmd_users_passwd, "Set an account's password (stdin or prompt).", json_flag=False)
    passwd.add_argument("name")

    models = commands.add_parser("models", help="The model registry.", description="The model registry.")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser, required=True)
    models_list = add(models_sub, "list", cmd_models_list, "List registered models.")
    models_list.add_argument("--task", choices=["chat", "embedding"])
    models_show = add(models_sub, "show", cmd_models_show, "Show one model; `path` is its local folder.")
    models_show.add_argument("name")

    audit = commands.add_parser("audit", help="The audit log (admins).", description="The audit log (admins).")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", parser_class=_Parser, required=True)
    audit_list = add(audit_sub, "list", cmd_audit_list, "List audit events, newest first.")
    audit_list.add_argument("--actor")
    audit_list.add_argument("--action", help="Action or its prefix, e.g. user. or user.create")
    audit_list.add_argument("--target", help="Target type, e.g. user or model.")
    audit_list.add_argument("--limit", type=int, default=100)

    demo = commands.add_parser("demo", help="Demo content.", description="Demo content.")
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", parser_class=_Parser, required=True)
    add(demo_sub, "seed", cmd_demo_seed, "Add demo accounts (one per role) and demo content; keeps what exists.")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return args.func(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        log.debug("unexpected", exc_info=True)
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"error: unexpected failure ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "rerun with WORKBENCH_DEBUG=1 for the traceback.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
