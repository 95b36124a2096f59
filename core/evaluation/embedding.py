"""Sentence embeddings with the bundled MiniLM, loaded once per process, for similarity checks and guards."""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from core.errors import Unavailable

Encoder = Callable[[list[str]], "object"]  # texts -> L2-normalised float32 array (n, 384)


@lru_cache(maxsize=2)
def _loaded(path: str):
    from core.models.loading import load_embedding_model

    return load_embedding_model(path)


def encoder_at(path: str | Path) -> Encoder:
    """An encoder for the sentence-embedding model in `path` (loaded on first use, then cached)."""

    def encode(texts: list[str]):
        from core.models.loading import embed

        model, tokenizer = _loaded(str(path))
        return embed(list(texts), model, tokenizer)

    return encode


def bundled_encoder(models_dir: Path) -> Encoder:
    """The bundled all-MiniLM-L6-v2 in the workbench's model store."""
    from core.models import bundled

    folder = bundled.store_path(models_dir, bundled.EMBEDDING_MODEL)
    if not bundled.is_installed(models_dir, bundled.EMBEDDING_MODEL):
        raise Unavailable(f"The bundled embedding model {bundled.EMBEDDING_MODEL.name} is not installed.",
                          hint="Run `workbench init`.")
    return encoder_at(folder)


def cosine_pairs(encode: Encoder, left: list[str], right: list[str]) -> list[float]:
    """Cosine similarity of each left text with the right text at the same position."""
    if not left:
        return []
    vectors = encode(list(left) + list(right))
    n = len(left)
    return [float(vectors[i] @ vectors[n + i]) for i in range(n)]
