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


def test_the_language_model_is_unpacked_once_into_the_cache_and_identifies_the_same(home):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from core.data import textstats

    textstats._language_identifier.cache_clear()
    try:
        first = textstats.language_identifier()
        cached = list(home.cache_dir.glob("py3langid-*-model.npz"))
        assert len(cached) == 1 and cached[0].stat().st_size > 10_000_000
        textstats._language_identifier.cache_clear()
        again = textstats.language_identifier()  # from the unpacked file this time
        packaged = LanguageIdentifier.from_model_file(MODEL_FILE)
        texts = ["Où est mon colis ? Il devait arriver hier.", "Where is my parcel? It should have arrived yesterday.",
                 "Mijn pakket is nog steeds niet aangekomen.", "Il mio pacco non è ancora arrivato."]
        assert [again.classify(t) for t in texts] == [packaged.classify(t) for t in texts] \
            == [first.classify(t) for t in texts]
        assert [again.classify(t)[0] for t in texts] == ["fr", "en", "nl", "it"]
        # A torn cache file does not break profiling: the packaged model is used instead.
        cached[0].write_bytes(b"not an npz")
        textstats._language_identifier.cache_clear()
        assert textstats.language_identifier().classify(texts[0])[0] == "fr"
    finally:
        textstats._language_identifier.cache_clear()


def test_word_counts_split_on_ascii_whitespace_like_str_split():
    import pyarrow as pa

    from core.data.textstats import word_counts

    texts = ["", "a b", None, "  x  y ", "\ttab\nnew\rline\x0bv\x0cf", "é ü  ß", "one", " ", "\x01ctl\x1fchars"] * 30_000
    array = pa.chunked_array([pa.array(texts[:100_000], pa.large_string()), pa.array(texts[100_000:], pa.large_string())])
    # str.split() also splits on \x1c-\x1f; the workbench counts ASCII whitespace only, as documented.
    expected = [len(t.replace("\x1f", "_").split()) if t is not None else 0 for t in texts]
    assert word_counts(array).tolist() == expected
    assert word_counts(array.chunk(0).slice(1, 3)).tolist() == [2, 0, 2]
    assert word_counts(pa.array(texts[:9], pa.string())).tolist() == expected[:9]


def test_init_can_unpack_the_language_model_ahead_of_the_first_profile(tmp_path):
    from core.data import textstats

    path = textstats.unpack_language_model(tmp_path / "cache")
    assert path.parent == tmp_path / "cache" and path.stat().st_size > 10_000_000
    written = path.stat().st_mtime_ns
    assert textstats.unpack_language_model(tmp_path / "cache") == path and path.stat().st_mtime_ns == written
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]  # no half-written file left beside it
