import pandas as pd

from core.data.textstats import language_mix, near_duplicate_pairs, near_matches


def test_near_duplicates_are_found_and_exact_copies_are_not_counted_twice():
    base = "my order number twelve arrived broken and the box was wet please send a replacement soon"
    texts = pd.Series([
        base,
        base.replace("soon", "today"),                  # near-duplicate
        "how do i change the billing address on my invoices for next month",
        base,                                           # exact copy: counted by exact duplicates, not here
        "completely different text about password resets and login loops in the mobile app",
    ])
    rows, pairs = near_duplicate_pairs(texts, threshold=0.7)
    assert rows == 2
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]


def test_near_matches_links_queries_to_the_reference():
    reference = pd.Series(["the quick brown fox jumps over the lazy dog near the river bank today",
                           "an entirely unrelated sentence about spreadsheets and quarterly numbers"], index=[10, 11])
    queries = pd.Series(["the quick brown fox jumps over the lazy dog near the river bank tonight", "nothing alike here at all"],
                        index=[0, 1])
    assert [(q, r) for q, r, _ in near_matches(reference, queries, threshold=0.6)] == [(0, 10)]


def test_language_mix_tells_languages_apart():
    mix = language_mix(["Where is my parcel? It should have arrived yesterday.",
                        "Wo ist mein Paket? Es hätte gestern ankommen sollen.",
                        "¿Dónde está mi paquete? Debería haber llegado ayer.", "ok"])
    assert mix == {"en": 1, "de": 1, "es": 1, "short": 1}
