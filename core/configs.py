"""Checks a config dataclass against its own field metadata, so a bound or a choice is written once.

Metadata keys read here (the same keys drive the page's form, workbench/ui/forms.py, and the CLI options,
workbench/commands/options.py): "min" and "max" for numbers, "choices" for a closed set, "unit" for the sentence
("tokens"). The sentence names the field in words ("max_length" -> "max length").
"""
from __future__ import annotations

import math
from dataclasses import fields

from core.errors import InvalidInput


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e4 else f"{value:,.0f}"


def check_fields(config) -> None:
    """Raises InvalidInput with one sentence for the first field outside its bounds or choices."""
    for spec in fields(config):
        meta, value = spec.metadata, getattr(config, spec.name)
        name = spec.name.replace("_", " ")
        choices = meta.get("choices")
        if choices:
            if value not in choices:
                raise InvalidInput(f"The {name} must be one of {', '.join(map(str, choices))}, not {value!r}.")
            continue
        low, high = meta.get("min"), meta.get("max")
        if low is None and high is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(f"The {name} must be a number, not {value!r}.")
        if isinstance(spec.default, int) and not isinstance(value, int) and not float(value).is_integer():
            raise InvalidInput(f"The {name} must be a whole number, not {value!r}.")
        if (low is not None and value < low) or (high is not None and value > high):
            unit = f" {meta['unit']}" if meta.get("unit") else ""
            if low is not None and high is not None:
                bound = f"between {_number(low)} and {_number(high)}{unit}"
            elif low is not None:
                bound = f"at least {_number(low)}{unit}"
            else:
                bound = f"at most {_number(high)}{unit}"
            raise InvalidInput(f"The {name} must be {bound}, not {_number(value)}.")
