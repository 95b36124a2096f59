"""Safe exports: cells a spreadsheet would run as formulas are neutralised, and can be restored on import."""
from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def neutralise_cell(value):
    """Prefixes a quote to text a spreadsheet would treat as a formula (OWASP's CSV-injection advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES + (ESCAPE,)):
        # Text already starting with the quote gets a second one, so restore_cell is an exact inverse.
        return ESCAPE + value
    return value


def restore_cell(value):
    if isinstance(value, str) and value.startswith(ESCAPE) and value[1:].startswith(FORMULA_PREFIXES + (ESCAPE,)):
        return value[1:]
    return value
