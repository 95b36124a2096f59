"""Prompt and output embeddings with the bundled MiniLM: computed once per event, kept in `EventEmbedding`.

Vectors are stored as float16 bytes (768 bytes for 384 dimensions); texts without an event (dataset rows) are
embedded without caching. Embedding runs in batches on the machine's CPU or GPU.
"""
from __future__ import annotations

import numpy as np
from sqlmodel import col, select

from core.storage.db import Store
from core.storage.tables import EventEmbedding

MODEL = "minilm-l6-v2"
DIMENSIONS = 384


def _encoder(store: Store):
    from core.evaluation.embedding import bundled_encoder

    return bundled_encoder(store.settings.models_dir)


def embed_texts(store: Store, texts: list[str], *, event_ids: list[int] | None = None, part: str = "prompt",
                encoder=None) -> np.ndarray:
    """One L2-normalised row per text; with `event_ids`, cached vectors are reused and new ones stored."""
    if not texts:
        return np.empty((0, DIMENSIONS), dtype=np.float32)
    encode = _by_length(encoder or _encoder(store))
    if event_ids is None:
        return encode(list(texts))
    ids = [int(i) for i in event_ids]
    cached: dict[int, np.ndarray] = {}
    with store.read() as session:
        for start in range(0, len(ids), 5000):
            rows = session.exec(select(EventEmbedding.event_id, EventEmbedding.vector).where(
                EventEmbedding.part == part, EventEmbedding.model == MODEL,
                col(EventEmbedding.event_id).in_(ids[start:start + 5000])))
            cached.update({event_id: np.frombuffer(vector, dtype=np.float16) for event_id, vector in rows})
    missing = [i for i, event_id in enumerate(ids) if event_id not in cached]
    if missing:
        vectors = encode([texts[i] for i in missing])
        with store.write() as session:
            for i, vector in zip(missing, vectors):
                if ids[i] not in cached:
                    session.merge(EventEmbedding(event_id=ids[i], part=part, model=MODEL,
                                                 vector=vector.astype(np.float16).tobytes()))
                    cached[ids[i]] = vector
    return np.vstack([np.asarray(cached[i], dtype=np.float32) for i in ids])


def _by_length(encode):
    """Encodes texts in length order (batches pad to their longest text), returning rows in the given order."""
    def encode_sorted(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.asarray(encode([texts[i] for i in order]), dtype=np.float32)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out

    return encode_sorted
