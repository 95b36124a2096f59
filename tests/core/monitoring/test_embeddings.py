"""The embedding cache: each event's prompt is embedded once; dataset rows are embedded without caching."""
import numpy as np
import pytest
from sqlmodel import func, select

from core.monitoring.embeddings import embed_texts
from core.storage.tables import EventEmbedding
from tests.core.monitoring.test_runs import bag_of_words


class Counting:
    def __init__(self):
        self.texts = []

    def __call__(self, texts):
        self.texts += texts
        return bag_of_words(texts)


def test_vectors_are_computed_once_per_event_and_come_back_in_order(store):
    encoder = Counting()
    first = embed_texts(store, ["a claim about damage", "reset my password"], event_ids=[7, 9], encoder=encoder)
    again = embed_texts(store, ["reset my password", "a claim about damage", "new text"], event_ids=[9, 7, 11],
                        encoder=encoder)
    assert encoder.texts == ["reset my password", "a claim about damage", "new text"]  # shortest first, then 11 only
    assert np.allclose(again[0], first[1], atol=1e-3) and np.allclose(again[1], first[0], atol=1e-3)
    assert again[1] @ again[1] == pytest.approx(1, abs=1e-2)
    with store.read() as session:
        assert session.exec(select(func.count()).select_from(EventEmbedding)).one() == 3


def test_texts_without_events_are_not_cached(store):
    vectors = embed_texts(store, ["one", "two words"], encoder=bag_of_words)
    assert vectors.shape == (2, 64)
    with store.read() as session:
        assert session.exec(select(func.count()).select_from(EventEmbedding)).one() == 0


@pytest.mark.slow
def test_the_bundled_minilm_embeds_prompts_that_mean_the_same_close_together(models_store):
    vectors = embed_texts(models_store, ["How do I reset my password?", "I forgot my password, how to reset it?",
                                         "My car was damaged in an accident."], event_ids=[1, 2, 3])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
