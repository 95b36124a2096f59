"""CLI options generated from a config dataclass: `--field-name` per field with the field's help, default,
choices and bounds (metadata "help", "choices", "min", "max"); tuple fields repeat (`--stop A --stop B`).
The dataclass checks the values, so the CLI, the page (workbench/ui/forms.py) and the core share one definition."""
from __future__ import annotations

import dataclasses
from typing import Any


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(parser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """One option per field of `cls`; an option not given keeps the field's default."""
    for spec in dataclasses.fields(cls):
        if spec.name in skip or not spec.init:
            continue
        meta, default = spec.metadata, spec.default
        text = meta.get("help", "")
        bounds = [f"at least {meta['min']}" if "min" in meta else "", f"at most {meta['max']}" if "max" in meta else ""]
        bounds = " and ".join(b for b in bounds if b)
        if bounds:
            text += f" ({bounds})"
        kwargs: dict[str, Any] = {"dest": spec.name, "default": None,
                                  "help": f"{text} Default: {default!r}." if default not in ((), None) else text}
        if meta.get("choices"):
            kwargs["choices"] = list(meta["choices"])
        if isinstance(default, bool):
            kwargs["metavar"] = "true|false"
        elif isinstance(default, tuple):
            kwargs["action"] = "append"
            kwargs["metavar"] = "TEXT"
        elif isinstance(default, int):
            kwargs["type"] = int
        elif isinstance(default, float):
            kwargs["type"] = float
        parser.add_argument(_flag(spec.name), **kwargs)


def from_options(args, cls, **fixed):
    """An instance of `cls` from the options `add_options` made (given ones override the defaults)."""
    values: dict[str, Any] = dict(fixed)
    for spec in dataclasses.fields(cls):
        given = getattr(args, spec.name, None)
        if given is None or spec.name in fixed:
            continue
        if isinstance(spec.default, bool) and isinstance(given, str):
            given = given.strip().lower() in ("1", "true", "yes", "on")
        values[spec.name] = tuple(given) if isinstance(spec.default, tuple) else given
    return cls(**values)
