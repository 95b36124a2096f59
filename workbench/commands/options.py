"""CLI options generated from a config dataclass: `--field-name` per field (or the metadata's "flag") with the
field's help, default, choices and bounds (metadata "help", "choices", "min", "max"); tuple fields repeat
(`--stop A --stop B`). The dataclass checks the values, so the CLI, the page (workbench/ui/forms.py) and the core
share one definition."""
from __future__ import annotations

import dataclasses
from typing import Any


def _flag(spec) -> str:
    return spec.metadata.get("flag") or "--" + spec.name.replace("_", "-")


def add_options(parser, cls, *, skip: tuple[str, ...] = (), flags: dict[str, tuple[str, ...]] | None = None,
                typed: bool = True) -> None:
    """One option per field of `cls`; an option not given keeps the field's default (its value is None).
    `flags` names a field's options where they differ (aliases included). With `typed=False` numbers and
    true/false stay text for the dataclass to convert (a config that also reads JSON files does that itself)."""
    for spec in dataclasses.fields(cls):
        if spec.name in skip or not spec.init:
            continue
        meta, default = spec.metadata, spec.default
        text = meta.get("help", "")
        bounds = [f"at least {meta['min']}" if "min" in meta else "", f"at most {meta['max']}" if "max" in meta else ""]
        bounds = " and ".join(b for b in bounds if b)
        if bounds:
            text += f" ({bounds})"
        if default is not dataclasses.MISSING and default not in ((), None, ""):
            text += f" Default: {default}."
        kwargs: dict[str, Any] = {"dest": spec.name, "default": None, "help": text.replace("%", "%%")}
        if isinstance(default, bool):
            kwargs["metavar"] = "true|false"
        elif meta.get("choices"):
            kwargs["choices"] = list(meta["choices"])
        elif isinstance(default, tuple):
            kwargs["action"] = "append"
            kwargs["metavar"] = "TEXT"
        elif isinstance(default, (int, float)):
            if typed:
                kwargs["type"] = type(default)
            else:
                kwargs["metavar"] = "N"
        parser.add_argument(*((flags or {}).get(spec.name) or (_flag(spec),)), **kwargs)


def given_options(args, cls) -> dict[str, Any]:
    """The fields whose options were given, with their values as parsed."""
    return {spec.name: getattr(args, spec.name) for spec in dataclasses.fields(cls)
            if getattr(args, spec.name, None) is not None}


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
