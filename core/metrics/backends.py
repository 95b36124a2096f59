"""The shipped `evaluate` metric scripts, loaded by file path, lazily and once per process.

`evaluate.load("bleu")` asks the Hugging Face Hub and fails offline; `evaluate.load(<path to a .py file>)`
does not: evaluate parses the script's imports (libraries only here, so nothing is downloaded), copies
the script into its modules cache (`HF_MODULES_CACHE`, by default ~/.cache/huggingface/modules) under a
hash of its content and imports it from there. `keep_in_memory=True` keeps predictions out of Arrow
cache files. Importing `evaluate` pulls in datasets, torch and transformers (seconds), so it happens
on the first score, never at import of `core.metrics`.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from core.errors import Unavailable

MODULES_DIR = Path(__file__).resolve().parent / "modules"
MODULE_NAMES = ("sacrebleu_bleu", "sacrebleu_chrf", "rouge_f")

# A loaded module keeps the rows of a computation on itself until `compute` returns, so two threads
# (two Streamlit sessions) must not compute with the same instance at once.
_LOCKS = {name: threading.Lock() for name in MODULE_NAMES}


def module_path(name: str) -> Path:
    """The script file of a shipped metric module."""
    if name not in MODULE_NAMES:
        raise ValueError(f"unknown metric module {name!r}")
    return MODULES_DIR / f"{name}.py"


@functools.lru_cache(maxsize=None)
def load_module(name: str) -> Any:
    """`evaluate.load` of a shipped script by its absolute path, cached for the process."""
    path = module_path(name)
    try:
        import evaluate

        return evaluate.load(str(path), keep_in_memory=True)
    except (ImportError, OSError) as exc:
        raise Unavailable(
            f"The metric module {name} could not be loaded: {exc}",
            hint="Check that evaluate, sacrebleu and rouge-score are installed and the Hugging Face "
            "modules cache (HF_MODULES_CACHE) is writable.",
        ) from exc


def compute(name: str, predictions: list[str], references: list[str], **kwargs: Any) -> dict[str, Any]:
    """Run one shipped module on aligned lists of strings (at least one pair)."""
    module = load_module(name)
    with _LOCKS[name]:
        return module.compute(predictions=predictions, references=references, **kwargs)
