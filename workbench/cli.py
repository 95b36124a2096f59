"""The `workbench` command: the same core functions as the pages, for terminals and scripts.

This module is the entry point and the parser's assembly only. Each command group lives in its own module in
workbench/commands/ (registered through GROUPS there), and the plumbing they share (the context with the store,
the acting user and JSON-or-text output; errors as one sentence and an exit status) in workbench/commands/context.py.
"""
from __future__ import annotations

import argparse
import gc
import logging
import sys

from workbench.commands.context import Context, Parser, add_command, exit_status


def build_parser() -> argparse.ArgumentParser:
    from workbench.commands import register_all

    parser = Parser(prog="workbench", description="LLMOps Workbench: data, prompts, fine-tunes, feedback and "
                                                  "monitoring of language models.")
    parser.add_argument("--user", metavar="NAME", help="Act as this workbench user, with that user's role "
                                                       "(default: the local operator, an admin).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    register_all(commands, add_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = build_parser()

    def dispatch() -> int:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return args.func(Context(args))

    return exit_status(dispatch)


def run() -> None:
    """The `workbench` command: main(), then exit without the interpreter's final sweep over every live object."""
    code = main()
    # The process ends here. Frozen objects are out of the cyclic collector's reach, so shutdown does not walk them
    # all (~0.2 s after profiling a million rows); atexit handlers, log handlers and stdout still flush, and the
    # memory goes back to the OS either way. Not in main(): tests call it in a process that goes on.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
