"""The plumbing every `workbench` command shares: the parser class, the context a handler gets (the store, the
acting user, output as JSON or text), and the one place where errors become a sentence and an exit status.

A handler takes a `Context`, calls core and prints through the context:

    def cmd_list(ctx) -> int:
        found = templates.list_templates(ctx.store, actor=ctx.actor)
        return ctx.table([t.to_dict() for t in found], [{"name": t.name, ...} for t in found], empty="No template yet.")

Options are `ctx.args.NAME`; `ctx.NAME` reads them too, so handlers written against argparse's namespace work
unchanged.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Callable

from core.errors import InvalidInput, PermissionDenied, WorkbenchError
from core.governance.roles import LOCAL_OPERATOR, Actor

log = logging.getLogger("workbench.cli")


class Parser(argparse.ArgumentParser):
    """Usage errors as one `error: ...` line and status 2, like every other user error."""

    def error(self, message: str):
        raise InvalidInput(f"{message} (see `{self.prog} --help`)")


def print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def print_table(rows: list[dict]) -> None:
    """Columns of the first row, padded to the widest cell; nothing at all for no rows."""
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def open_store():
    from core.home import open_store as open_home_store

    return open_home_store()


def actor_of(args, store) -> Actor:
    """The user `--user NAME` names (refused when disabled), else the local operator."""
    if not getattr(args, "user", None):
        return LOCAL_OPERATOR
    from core.governance.users import get_user

    user = get_user(store, args.user)
    if not user.active:
        raise PermissionDenied(f"The account '{user.name}' is disabled.")
    return user.as_actor()


class Context:
    """What a handler needs: its options, the store and the acting user (both opened on first use, so a command
    that fails on its options never touches the database), and output as JSON (`--json`) or text."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._store = None
        self._actor: Actor | None = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the context does not have: the command's options.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.args, name)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def store(self):
        if self._store is None:
            self._store = open_store()
        return self._store

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            self._actor = actor_of(self.args, self.store)
        return self._actor

    def show(self, value, text: str | Callable[[], None] | None = None) -> int:
        """`value` as JSON with --json, else `text` (a line, or a function that prints); returns status 0."""
        if self.json:
            print_json(value)
        elif callable(text):
            text()
        elif text is not None:
            print(text)
        return 0

    def table(self, value, rows: list[dict], *, empty: str | None = None) -> int:
        """`value` as JSON with --json, else `rows` as a table (or `empty` when there are none); status 0."""
        if self.json:
            print_json(value)
        elif not rows and empty is not None:
            print(empty)
        else:
            print_table(rows)
        return 0

    def progress_on_terminal(self) -> bool:
        """Whether to draw progress on stderr: text output to a terminal."""
        return not self.json and sys.stderr.isatty()


def exit_status(action: Callable[[], int]) -> int:
    """Runs a command: a WorkbenchError is one `error: ...` line and status 2, Ctrl-C 130, anything else one line
    and status 1 (the traceback with WORKBENCH_DEBUG=1)."""
    try:
        return action()
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


def add_command(sub, name: str, func, help_text: str, json_flag: bool = True):
    """A subcommand running `func(ctx)`, with `--json` unless the command prints no report."""
    command = sub.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(func=func)
    if json_flag:
        command.add_argument("--json", action="store_true", help="Print JSON instead of text.")
    return command


def add_group(commands, name: str, help_text: str, *, description: str | None = None):
    """A command group (`workbench NAME ACTION`); returns its subparsers for `add_command`."""
    group = commands.add_parser(name, help=help_text, description=description or help_text)
    return group.add_subparsers(dest=f"{name}_command", metavar="ACTION", parser_class=Parser, required=True)
