"""Topic allow-list: the text must be close to one of the described `topics` (cosine similarity of
all-MiniLM-L6-v2 sentence embeddings at or above `threshold`, default 0.3). Flag or block."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, Unavailable
from core.guardrails.base import Finding, Guard


def check(params: dict[str, Any]) -> None:
    topics = params.get("topics")
    if not isinstance(topics, list) or not [t for t in topics if str(t).strip()]:
        raise InvalidInput("A topic guard needs topics: a list of short descriptions of what users may ask about.")


@lru_cache(maxsize=16)
def _topic_vectors(models_dir: str, topics: tuple[str, ...]):
    from core.evaluation.embedding import bundled_encoder

    return bundled_encoder(Path(models_dir))(list(topics))


def best_topic(text: str, topics: list[str], models_dir: Path) -> tuple[str, float]:
    from core.evaluation.embedding import bundled_encoder

    clean = tuple(str(t).strip() for t in topics if str(t).strip())
    scores = _topic_vectors(str(models_dir), clean) @ bundled_encoder(models_dir)([text[:2000]])[0]
    best = int(scores.argmax())
    return clean[best], float(scores[best])


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    if not params.get("_models_dir"):
        raise Unavailable("The topic guard needs the bundled embedding model.")
    topic, score = best_topic(text, params["topics"], Path(params["_models_dir"]))
    threshold = float(params.get("threshold", 0.3))
    if score >= threshold:
        return []
    return [Finding(0, len(text), f"off topic (closest: {topic[:60]!r} at {score:.2f})")]


GUARD = Guard("topic", "Topic allow-list", __doc__, detect, actions=("flag", "block"), check_params=check,
              uses_embeddings=True)
