"""What guards share: a hit (where in the text, what was found) and the registry entry of a guard."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("flag", "redact", "block")
STAGES = ("input", "output")


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    detail: str  # what was found, never the found text itself when that is sensitive
    replacement: str = "<REDACTED>"


@dataclass(frozen=True)
class Guard:
    """`detect(text, params)` returns the findings; `actions` the actions that make sense for it."""

    name: str
    label: str
    description: str
    detect: Callable[[str, dict[str, Any]], list[Finding]] = field(repr=False, compare=False)
    actions: tuple[str, ...] = ACTIONS
    stages: tuple[str, ...] = STAGES
    check_params: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)
    uses_embeddings: bool = False
