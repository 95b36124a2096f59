"""core.metrics against direct sacrebleu / rouge-score calls on real sentences, and its own small rules."""
from __future__ import annotations

import math
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from core.errors import InvalidInput
from core.metrics import METRICS, PRESETS, ROUGE_USE_STEMMER, Metric, score_corpus, score_pairs
from core.metrics import backends
from core.metrics.text import count_syllables, flesch_reading_ease, normalise_answer

ROOT = Path(__file__).resolve().parents[3]

# (output, reference): identical, partial overlap, empty output, reordered, unicode (accents, CJK, emoji).
PAIRS = [
    ("The quick brown fox jumps over the lazy dog.", "The quick brown fox jumps over the lazy dog."),
    ("The cat is sitting on the mat near the door.", "A cat sat on the mat by the door."),
    ("", "Paris is the capital of France."),
    ("France's capital city is Paris.", "Paris is the capital of France."),
    ("Die Straße führt über die Brücke nach München.", "Die Strasse führt über die Brücke nach München."),
    ("我喜欢学习机器学习。", "我喜欢机器学习。"),
    ("Models were trained 🚀 on three datasets", "The model was trained on 3 datasets"),
]
OUTPUTS = [out for out, _ in PAIRS]
REFERENCES = [ref for _, ref in PAIRS]
ROUGE_TYPES = ["rouge1", "rouge2", "rougeL"]


def _rouge_rows(rouge_type: str, outputs: list[str], references: list[str]) -> list[float]:
    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=ROUGE_USE_STEMMER)
    return [scorer.score(ref, out)[rouge_type].fmeasure for out, ref in zip(outputs, references)]


def _direct_rows(name: str, outputs: list[str], references: list[str]) -> list[float | None]:
    """What each registered metric must give per row, computed without core.metrics' scorers."""
    if name == "bleu":
        return [sacrebleu.sentence_bleu(out, [ref]).score for out, ref in zip(outputs, references)]
    if name == "chrf":
        return [sacrebleu.sentence_chrf(out, [ref]).score for out, ref in zip(outputs, references)]
    if name in ROUGE_TYPES:
        return _rouge_rows(name, outputs, references)
    if name == "exact_match":  # NFC, whitespace collapsed, casefolded (so "Straße" matches "Strasse")
        def norm(text):
            return " ".join(unicodedata.normalize("NFC", text).split()).casefold()
        return [float(norm(out) == norm(ref)) for out, ref in zip(outputs, references)]
    if name == "length_words":
        return [float(len(out.split())) for out in outputs]
    if name == "readability":
        return [flesch_reading_ease(out) for out in outputs]
    raise KeyError(name)


DIRECT_CHECKED = {"bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match", "length_words", "readability"}


def test_every_registered_metric_has_a_direct_check():
    assert set(METRICS) == DIRECT_CHECKED


@pytest.mark.parametrize("name", list(METRICS))
def test_registered_metric_matches_the_direct_computation(name):
    rows = score_pairs(OUTPUTS, REFERENCES, [name])
    assert list(rows) == [name]
    assert rows[name] == _direct_rows(name, OUTPUTS, REFERENCES)  # identical, not approximately equal


@pytest.mark.parametrize("name", list(METRICS))
def test_registered_metric_has_a_label_description_and_scale(name):
    metric = METRICS[name]
    assert isinstance(metric, Metric) and metric.name == name
    assert metric.label and metric.description and metric.scale
    assert metric.backend == "local" or metric.backend in backends.MODULE_NAMES


def test_presets_name_registered_metrics_only():
    assert set(PRESETS) == {"reference", "basic"}
    for names in PRESETS.values():
        assert names and set(names) <= set(METRICS)
    assert all(METRICS[name].needs_reference for name in PRESETS["reference"])
    assert not any(METRICS[name].needs_reference for name in PRESETS["basic"])


def test_corpus_scores_match_sacrebleu_and_rouge_score():
    corpus = score_corpus(OUTPUTS, REFERENCES)
    assert corpus["bleu"] == sacrebleu.corpus_bleu(OUTPUTS, [REFERENCES]).score
    assert corpus["chrf"] == sacrebleu.corpus_chrf(OUTPUTS, [REFERENCES]).score
    for rouge_type in ROUGE_TYPES:
        rows = _rouge_rows(rouge_type, OUTPUTS, REFERENCES)
        assert corpus[rouge_type] == sum(rows) / len(rows)
    assert corpus["exact_match"] == 2 / len(PAIRS)  # the identical pair and Straße/Strasse
    assert corpus["length_words"] == sum(len(out.split()) for out in OUTPUTS) / len(OUTPUTS)
    readable = [flesch_reading_ease(out) for out in OUTPUTS if flesch_reading_ease(out) is not None]
    assert corpus["readability"] == pytest.approx(sum(readable) / len(readable))


def test_corpus_bleu_pools_ngrams_rather_than_averaging_sentences():
    rows = score_pairs(OUTPUTS, REFERENCES, ["bleu", "chrf"])
    corpus = score_corpus(OUTPUTS, REFERENCES, ["bleu", "chrf"])
    for name in ("bleu", "chrf"):
        assert corpus[name] != pytest.approx(sum(rows[name]) / len(rows[name]))
    # one pair: corpus BLEU has no effective-order smoothing, sentence BLEU has
    short_out, short_ref = ["Paris is nice."], ["Paris is the capital."]
    expected = sacrebleu.sentence_bleu(short_out[0], short_ref).score
    assert score_pairs(short_out, short_ref, ["bleu"])["bleu"] == [expected]
    assert score_corpus(short_out, short_ref, ["bleu"])["bleu"] == sacrebleu.corpus_bleu(short_out, [short_ref]).score


def test_identical_and_empty_outputs_give_the_extremes():
    rows = score_pairs(OUTPUTS[:3], REFERENCES[:3], PRESETS["reference"])
    for name in PRESETS["reference"]:
        top = 100.0 if METRICS[name].scale == "0-100" else 1.0
        assert rows[name][0] == pytest.approx(top)
        assert rows[name][2] == 0.0
        assert 0.0 < rows[name][1] < top or name == "exact_match"


def test_rouge_ignores_non_ascii_words_as_rouge_score_does():
    rows = score_pairs(["我喜欢学习机器学习。"], ["我喜欢机器学习。"], ["rouge1", "chrf"])
    assert rows["rouge1"] == [0.0]  # rouge-score's tokenizer keeps ASCII letters and digits only
    assert rows["chrf"][0] > 40  # chrF works on characters, so it still sees the overlap


def test_exact_match_ignores_case_and_surrounding_or_repeated_whitespace_only():
    outputs = ["  Paris ", "PARIS", "the\tEiffel\n  tower", "Paris.", "Pariss", "cafe\u0301", "STRASSE"]
    references = ["Paris", "paris", "The Eiffel Tower", "Paris", "Paris", "caf\u00e9", "straße"]
    assert score_pairs(outputs, references, ["exact_match"])["exact_match"] == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert score_corpus(outputs, references, ["exact_match"])["exact_match"] == 5 / 7
    assert normalise_answer("  The\u00a0 Eiffel\n Tower ") == "the eiffel tower"


def test_readability_prefers_a_simple_sentence_to_a_convoluted_one():
    simple = "The cat sat on the mat. It was warm."
    convoluted = ("Notwithstanding considerable organisational heterogeneity, institutional "
                  "accountability mechanisms systematically underestimate interdependencies.")
    rows = score_pairs([simple, convoluted], None, ["readability"])["readability"]
    assert rows[0] > 90 > 0 > rows[1]
    assert flesch_reading_ease("") is None and flesch_reading_ease("42 ... !!") is None
    # 2 sentences, 4 words, 4 syllables
    assert flesch_reading_ease("Cats sleep. Dogs bark!") == pytest.approx(206.835 - 1.015 * 2 - 84.6 * 1)


@pytest.mark.parametrize("word, syllables", [
    ("cat", 1), ("the", 1), ("make", 1), ("table", 2), ("simple", 2), ("water", 2),
    ("beautiful", 3), ("readability", 5), ("café", 2), ("über", 2), ("猫", 1),
])
def test_syllable_heuristic(word, syllables):
    assert count_syllables(word) == syllables


def test_length_counts_whitespace_separated_words():
    assert score_pairs(["one two  three\nfour", "", "  "], None, ["length_words"]) == {"length_words": [4.0, 0.0, 0.0]}


def test_without_references_reference_metrics_are_none_and_the_others_still_score():
    rows = score_pairs(OUTPUTS[:2], None)
    corpus = score_corpus(OUTPUTS[:2], None)
    for name, metric in METRICS.items():
        if metric.needs_reference:
            assert rows[name] == [None, None] and corpus[name] is None
        else:
            assert None not in rows[name] and corpus[name] is not None


def test_missing_reference_cells_are_skipped_row_by_row_and_in_the_corpus():
    pd = pytest.importorskip("pandas")
    references = [REFERENCES[0], None, float("nan"), pd.NA, REFERENCES[4]]
    outputs = OUTPUTS[:5]
    rows = score_pairs(outputs, references)
    corpus = score_corpus(outputs, references)
    kept_out, kept_ref = [outputs[0], outputs[4]], [REFERENCES[0], REFERENCES[4]]
    for name, metric in METRICS.items():
        if metric.needs_reference:
            direct = _direct_rows(name, kept_out, kept_ref)
            assert rows[name] == [direct[0], None, None, None, direct[1]]
    assert corpus["bleu"] == sacrebleu.corpus_bleu(kept_out, [kept_ref]).score
    assert corpus["chrf"] == sacrebleu.corpus_chrf(kept_out, [kept_ref]).score
    assert corpus["rougeL"] == sum(_rouge_rows("rougeL", kept_out, kept_ref)) / 2
    assert rows["length_words"][1:4] == [float(len(out.split())) for out in outputs[1:4]]
    # a pandas column works as well as a list
    assert score_pairs(pd.Series(outputs), pd.Series(references), ["bleu"]) == {"bleu": rows["bleu"]}


def test_a_missing_output_scores_none_everywhere():
    rows = score_pairs([None, "Paris"], ["Paris", "Paris"])
    assert all(values[0] is None for values in rows.values())
    assert rows["exact_match"] == [None, 1.0]
    assert score_corpus([None], [None]) == {name: None for name in METRICS}
    assert score_pairs([], [], ["bleu", "readability"]) == {"bleu": [], "readability": []}


def test_results_follow_the_requested_order_and_drop_duplicates():
    rows = score_pairs(["a b"], ["a b"], ["readability", "bleu", "readability"])
    assert list(rows) == ["readability", "bleu"]
    assert list(score_pairs(["a"], ["a"])) == list(METRICS)


def test_unknown_metric_names_the_valid_ones():
    with pytest.raises(InvalidInput) as caught:
        score_pairs(["a"], ["a"], ["bleu", "meteor"])
    assert "'meteor'" in caught.value.message
    assert all(name in caught.value.message for name in METRICS)
    with pytest.raises(InvalidInput):
        score_corpus(["a"], ["a"], ["BLEU"])


def test_mismatched_lengths_and_non_lists_are_invalid_input():
    with pytest.raises(InvalidInput, match="2 outputs but 1 references"):
        score_pairs(["a", "b"], ["a"])
    with pytest.raises(InvalidInput):
        score_corpus(["a"], ["a", "b"])
    with pytest.raises(InvalidInput):
        score_pairs("a single string", None)
    with pytest.raises(InvalidInput):
        score_pairs(["a"], 3)


def test_modules_load_by_path_once_per_process():
    for name in backends.MODULE_NAMES:
        module = backends.load_module(name)
        assert module is backends.load_module(name)
        assert module.name == name
        assert backends.module_path(name).is_file()


def test_concurrent_scoring_gives_the_same_scores():
    expected = score_pairs(OUTPUTS, REFERENCES, PRESETS["reference"])
    results = []

    def work():
        results.append(score_pairs(OUTPUTS, REFERENCES, PRESETS["reference"]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_importing_core_metrics_does_not_import_evaluate_or_the_scorers():
    code = ("import sys, core.metrics; "
            "print(sorted(m for m in ('evaluate', 'datasets', 'sacrebleu', 'rouge_score', 'torch', 'pandas') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"


def test_scores_are_plain_floats():
    rows = score_pairs(OUTPUTS[:2], REFERENCES[:2])
    for values in rows.values():
        assert all(type(value) is float and math.isfinite(value) for value in values)
