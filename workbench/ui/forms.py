"""Streamlit forms generated from a config dataclass: one widget per field, from the field's type, default and
metadata ("help", "min", "max", "step", "choices", "label"). The same metadata drives the CLI options
(workbench/commands/options.py) and the checks in the dataclass itself, so a bound is written once."""
from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st


def label_for(spec: dataclasses.Field) -> str:
    return spec.metadata.get("label") or spec.name.replace("_", " ").capitalize()


def field_input(spec: dataclasses.Field, *, key: str, where=st, default: Any = dataclasses.MISSING) -> Any:
    """The widget of one field; returns its value in the field's type."""
    meta = spec.metadata
    value = spec.default if default is dataclasses.MISSING else default
    label, help_text = label_for(spec), meta.get("help")
    if meta.get("choices"):
        choices = list(meta["choices"])
        return where.selectbox(label, choices, index=choices.index(value) if value in choices else 0, key=key,
                               help=help_text)
    if isinstance(value, bool):
        return where.checkbox(label, value=value, key=key, help=help_text)
    if isinstance(value, tuple):
        text = where.text_area(f"{label}, one per line", value="\n".join(map(str, value)), key=key, help=help_text,
                               height=68)
        return tuple(line for line in text.splitlines() if line)
    if isinstance(value, int):
        return int(where.number_input(label, int(meta.get("min", 0)), int(meta.get("max", 2**31 - 1)), int(value),
                                      int(meta.get("step", 1)), key=key, help=help_text))
    if isinstance(value, float):
        low, high = meta.get("min"), meta.get("max")
        return float(where.number_input(label, None if low is None else float(low),
                                        None if high is None else float(high), float(value),
                                        float(meta.get("step", 0.05)), key=key, help=help_text, format="%g"))
    return where.text_input(label, value="" if value is None else str(value), key=key, help=help_text)


def dataclass_form(cls, *, prefix: str, columns: int = 3, skip: tuple[str, ...] = ()):
    """An instance of `cls` from one widget per field (keys `prefix.field`), laid out in `columns` columns.
    The dataclass checks the values (a WorkbenchError for the page to show)."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip and f.init]
    slots = st.columns(columns)
    values = {f.name: field_input(f, key=f"{prefix}.{f.name}", where=slots[n % columns])
              for n, f in enumerate(fields)}
    return cls(**values)
