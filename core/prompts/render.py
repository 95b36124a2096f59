"""Rendering a template into chat messages, in a Jinja2 sandbox.

Templates are written by users and filled with dataset cells, so both are untrusted: the immutable sandbox
refuses attribute tricks (`__class__`, `mro`...) and mutation, StrictUndefined turns a missing variable into a
clear error instead of an empty string, and output size is capped so a loop cannot fill memory.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from core.errors import InvalidInput

MAX_TEMPLATE_CHARS = 50_000
MAX_RENDERED_CHARS = 200_000


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # No autoescape: the result is a chat message (plain text), never HTML; the UI renders it inert anyway.
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _compiled(source: str):
    return _environment().from_string(source)


def check_template(source: str, what: str = "The template") -> list[str]:
    """Parses `source`; returns the names of the variables it reads, sorted. A syntax error is one sentence."""
    from jinja2 import TemplateSyntaxError, meta

    if not isinstance(source, str):
        raise InvalidInput(f"{what} must be text.")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"{what} is {len(source):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}.")
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{what} has a syntax error on line {exc.lineno}: {exc.message}.") from None
    return sorted(meta.find_undeclared_variables(tree))


def render_text(source: str, variables: dict[str, Any], what: str = "The template") -> str:
    from jinja2 import TemplateError, UndefinedError
    from jinja2.sandbox import SecurityError

    check_template(source, what)
    try:
        text = _bounded(_compiled(source).generate(**{str(k): v for k, v in (variables or {}).items()}), what)
    except UndefinedError as exc:
        raise InvalidInput(f"{what} needs a value that was not given: {exc.message}.",
                           hint="Map every variable to a dataset column or type a value for it.") from None
    except SecurityError as exc:
        raise InvalidInput(f"{what} tried something the sandbox does not allow ({exc}).") from None
    except TemplateError as exc:
        raise InvalidInput(f"{what} could not be rendered: {exc.message or type(exc).__name__}.") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise InvalidInput(f"{what} could not be rendered: {exc}.") from None
    return text


def _bounded(pieces, what: str) -> str:
    """Joins rendered pieces, stopping as soon as the text passes the limit (a loop cannot fill memory)."""
    out, size = [], 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_RENDERED_CHARS:
            raise InvalidInput(f"{what} renders to more than {MAX_RENDERED_CHARS:,} characters; shorten it.")
        out.append(piece)
    return "".join(out)


def render_messages(body: str, variables: dict[str, Any], *, system: str | None = None) -> list[dict[str, str]]:
    """The conversation a template makes for one input: an optional system message and the user message.

    The model's own chat template is applied later, by the engine that runs the model.
    """
    messages = []
    if system and system.strip():
        messages.append({"role": "system", "content": render_text(system, variables, "The system prompt")})
    messages.append({"role": "user", "content": render_text(body, variables)})
    return messages
