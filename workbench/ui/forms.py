"""Streamlit forms generated from a config dataclass: one widget per field, from the field's type, default and
metadata ("help", "min", "max", "step", "choices", "label"). The same metadata drives the CLI options
(workbench/commands/options.py) and the checks in the dataclass itself, so a bound is written once."""
from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st


def label_for(spec: dataclasses.Field) -> str:
    return spec.metadata.get("label") or spec.name.replace("_", " ").capitalize()


def field_input(spec: dataclasses.Field, *, key: str, where=st, default: Any = dataclasses.MISSING,
                label: str | None = None, options: list | None = None, format_func=None, disabled: bool = False,
                step: float | None = None) -> Any:
    """The widget of one field; returns its value in the field's type. `options` are choices known only at run
    time (registered models, dataset versions); `label` and `step` override the metadata's. A key already in the
    session state (a preset put it there) gives the widget its value, so no second default is passed."""
    meta = spec.metadata
    value = spec.default if default is dataclasses.MISSING else default
    label, help_text = label or label_for(spec), meta.get("help")
    held = key in st.session_state
    common: dict[str, Any] = {"key": key, "help": help_text, "disabled": disabled}
    if options is not None or meta.get("choices"):
        choices = list(options if options is not None else meta["choices"])
        if format_func is not None:
            common["format_func"] = format_func
        if not held:
            common["index"] = choices.index(value) if value in choices else 0
        return where.selectbox(label, choices, **common)
    if isinstance(value, bool):
        return where.checkbox(label, **({} if held else {"value": value}), **common)
    if isinstance(value, tuple):
        text = where.text_area(f"{label}, one per line", **({} if held else {"value": "\n".join(map(str, value))}),
                               height=68, **common)
        return tuple(line for line in text.splitlines() if line)
    if isinstance(value, int):
        return int(where.number_input(label, min_value=int(meta.get("min", 0)),
                                      max_value=int(meta.get("max", 2**31 - 1)), step=int(step or meta.get("step", 1)),
                                      **({} if held else {"value": int(value)}), **common))
    if isinstance(value, float):
        low, high = meta.get("min"), meta.get("max")
        return float(where.number_input(label, min_value=None if low is None else float(low),
                                        max_value=None if high is None else float(high),
                                        step=float(step or meta.get("step", 0.05)), format="%g",
                                        **({} if held else {"value": float(value)}), **common))
    return where.text_input(label, **({} if held else {"value": "" if value in (None, dataclasses.MISSING) else str(value)}),
                            **common)


def dataclass_form(cls, *, prefix: str, columns: int = 3, skip: tuple[str, ...] = (),
                   options: dict[str, list] | None = None, **fixed):
    """An instance of `cls` from one widget per field (keys `prefix.field`), laid out in `columns` columns;
    `options` gives run-time choices per field, `fixed` values for fields drawn no widget. The dataclass checks
    the values (a WorkbenchError for the page to show)."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip and f.name not in fixed and f.init]
    slots = st.columns(columns)
    values = {f.name: field_input(f, key=f"{prefix}.{f.name}", where=slots[n % columns],
                                  options=(options or {}).get(f.name))
              for n, f in enumerate(fields)}
    return cls(**values, **fixed)
