"""Every registered check on hand-computed cases; a meta-test makes sure no check goes without a test here."""
import json
import re
from pathlib import Path

import pytest
import sacrebleu

from core.errors import InvalidInput, Unavailable
from core.evaluation.checks import CHECKS, CheckInput, run_check
from core.evaluation.judge import Judge, pairwise_value, parse_score, parse_winner


def one(name, output, reference=None, **params):
    return run_check(name, [CheckInput(output=output, reference=reference)], params)[0]


def test_every_registered_check_has_a_test():
    source = Path(__file__).read_text()
    tested = set(re.findall(r"^def test_([a-z_]+?)_", source, flags=re.MULTILINE))
    missing = [name for name in CHECKS if not any(t.startswith(name) for t in tested)
               and f"def test_{name}_" not in source]
    assert not missing, f"checks without a test: {missing}"


def test_bleu_identical_is_100_and_matches_sacrebleu():
    assert one("bleu", "the cat sat on the mat", "the cat sat on the mat").value == pytest.approx(100)
    hyp, ref = "the cat is on the mat today", "the cat sat on the mat"
    result = one("bleu", hyp, ref, threshold=99)
    assert result.value == pytest.approx(sacrebleu.sentence_bleu(hyp, [ref]).score)
    assert result.passed is False
    assert one("bleu", "hello", None).passed is None  # no reference: undecided


def test_chrf_identical_and_disjoint():
    assert one("chrf", "refund issued", "refund issued").value == pytest.approx(100)
    assert one("chrf", "xyz", "abc").value == pytest.approx(0)
    assert one("chrf", "xyz", "abc").passed is False


def test_rouge_unigram_and_bigram_by_hand():
    # "the cat sat" vs "the cat ran": 2 of 3 unigrams shared -> F = 2/3; 1 of 2 bigrams -> F = 1/2
    assert one("rouge", "the cat sat", "the cat ran").value == pytest.approx(2 / 3)
    assert one("rouge", "the cat sat", "the cat ran", variant="rouge2").value == pytest.approx(0.5)
    assert one("rouge", "the cat sat", "the cat ran", variant="rouge2", threshold=0.6).passed is False
    with pytest.raises(InvalidInput):
        one("rouge", "a", "a", variant="rouge9")


def test_exact_match_normalises_case_and_spaces():
    assert one("exact_match", "  Paris ", "paris").passed is True
    assert one("exact_match", "Paris.", "Paris").passed is False


def test_equals_uses_value_over_reference():
    assert one("equals", "42", "41", value="42").passed is True
    assert one("equals", "42", "41").passed is False


def test_contains_all_any_and_case():
    assert one("contains", "Your refund is on its way", value="refund").passed is True
    assert one("contains", "Your Refund", value="refund").passed is False
    assert one("contains", "Your Refund", value="refund", ignore_case=True).passed is True
    result = one("contains", "refund sent", value=["refund", "invoice"])
    assert result.passed is False and result.value == 0.5
    assert one("contains", "refund sent", value=["refund", "invoice"], mode="any").passed is True
    with pytest.raises(InvalidInput):
        one("contains", "x")


def test_not_contains_flags_forbidden_text():
    assert one("not_contains", "Call us", value=["password", "ssn"]).passed is True
    result = one("not_contains", "Your PASSWORD is", value="password", ignore_case=True)
    assert result.passed is False and "password" in result.explanation


def test_regex_search_and_bad_pattern():
    assert one("regex", "Order #12345 shipped", value=r"#\d{5}\b").passed is True
    assert one("regex", "Order shipped", value=r"#\d{5}").passed is False
    with pytest.raises(InvalidInput):
        one("regex", "x", value="(")


def test_is_json_whole_and_contained():
    assert one("is_json", '{"a": 1}').passed is True
    assert one("is_json", 'Here: ```json\n{"a": 1}\n```').passed is False
    assert one("is_json", 'Here: ```json\n{"a": 1}\n```', contains=True).passed is True
    assert one("is_json", "no json here {", contains=True).passed is False


def test_json_schema_validates_and_explains():
    schema = {"type": "object", "properties": {"priority": {"enum": ["low", "high"]}}, "required": ["priority"]}
    assert one("json_schema", json.dumps({"priority": "low"}), schema=schema).passed is True
    bad = one("json_schema", json.dumps({"priority": "urgent"}), schema=schema)
    assert bad.passed is False and "priority" in bad.explanation
    assert one("json_schema", "not json", schema=schema).passed is False
    with pytest.raises(InvalidInput):
        one("json_schema", "{}", schema={"type": "nonsense"})


def test_length_chars_and_words():
    assert one("length", "abcde", max=5).passed is True
    assert one("length", "abcdef", max=5).passed is False
    result = one("length", "one two three", unit="words", min=2, max=3)
    assert result.passed is True and result.value == 3
    with pytest.raises(InvalidInput):
        one("length", "x")


def test_levenshtein_distance_by_hand():
    assert one("levenshtein", "kitten", "sitting").value == 3  # k->s, e->i, +g
    assert one("levenshtein", "kitten", "sitting", threshold=2).passed is False


def test_refusal_detects_refusals_not_apologies():
    assert one("refusal", "I'm sorry, but I can't help with that request.").passed is False
    assert one("refusal", "As an AI, I cannot share personal data.").value == 1.0
    assert one("refusal", "Sorry for the trouble! I have refunded the charge.").passed is True
    assert one("refusal", "I can’t assist with that.", expect="refuse").passed is True


def test_no_pii_counts_validated_matches():
    result = one("no_pii", "Write to maria@example.com or call +49 30 1234567.")
    assert result.passed is False and result.value == 2
    assert one("no_pii", "Order 12345 ships on 2026-06-01.").passed is True


def test_latency_and_cost_read_the_generation():
    item = CheckInput(output="x", latency_s=1.5, cost_usd=0.002)
    assert run_check("latency", [item], {"threshold": 2})[0].passed is True
    assert run_check("latency", [item], {"threshold": 1})[0].passed is False
    assert run_check("latency", [CheckInput(output="x")], {})[0].passed is None


def test_cost_threshold():
    item = CheckInput(output="x", cost_usd=0.002)
    assert run_check("cost", [item], {"threshold": 0.001})[0].passed is False
    assert run_check("cost", [item], {"threshold": 0.01})[0].passed is True


def test_negate_inverts_pass_and_fail():
    assert run_check("contains", [CheckInput("refund")], {"value": "refund", "negate": True})[0].passed is False


def scripted(replies):
    """A judge whose model is a fixed function of the conversation (what the reply depends on is visible)."""
    calls = []

    def complete(conversations):
        calls.extend(conversations)
        return [replies(c[-1]["content"]) for c in conversations]

    return Judge(name="scripted", complete=complete), calls


def test_judge_rubric_scores_and_reasons():
    judge, calls = scripted(lambda text: "Score: 5\nReason: polite and correct." if "refund" in text.split("Answer:")[1]
                            else "Score: 2\nReason: ignores the question.")
    items = [CheckInput("We refunded you.", prompt="Charged twice", judge=judge),
             CheckInput("Nice weather.", prompt="Charged twice", judge=judge)]
    good, bad = run_check("judge_rubric", items, {"rubric": "Addresses the billing problem."})
    assert (good.value, good.passed) == (1.0, True) and "polite" in good.explanation
    assert (bad.value, bad.passed) == (0.25, False)
    assert "Addresses the billing problem." in calls[0][-1]["content"]
    with pytest.raises(InvalidInput):
        run_check("judge_rubric", items, {})
    with pytest.raises(Unavailable):
        run_check("judge_rubric", [CheckInput("x")], {"rubric": "r"})


def test_judge_rubric_without_a_score_is_undecided():
    judge, _ = scripted(lambda text: "I think it is fine.")
    result = run_check("judge_rubric", [CheckInput("x", judge=judge)], {"rubric": "r"})[0]
    assert result.passed is None and result.value is None


def test_judge_pairwise_swaps_positions():
    # A judge that always prefers position A: its verdicts cancel out (0.5, not a win).
    biased, calls = scripted(lambda text: "Winner: A\nReason: first is better.")
    result = run_check("judge_pairwise", [CheckInput("cand", baseline_output="base", prompt="q", judge=biased)], {})[0]
    assert result.value == 0.5 and result.passed is False
    assert "Answer A:\ncand" in calls[0][-1]["content"] and "Answer A:\nbase" in calls[1][-1]["content"]
    # A judge that prefers the answer mentioning "refund", wherever it is: a consistent win.
    fair, _ = scripted(lambda text: "Winner: A" if "refund" in text.split("Answer B:")[0].split("Answer A:")[1]
                       else "Winner: B")
    win = run_check("judge_pairwise", [CheckInput("refund sent", baseline_output="no", prompt="q", judge=fair)], {})[0]
    assert (win.value, win.passed) == (1.0, True)
    loss = run_check("judge_pairwise", [CheckInput("no", baseline_output="refund sent", prompt="q", judge=fair)], {})[0]
    assert (loss.value, loss.passed) == (0.0, False)
    assert run_check("judge_pairwise", [CheckInput("x")], {})[0].passed is None  # no baseline answer


def test_judge_parsers():
    assert parse_score("**Score:** 4/5") == 4 and parse_score("3") == 3 and parse_score("great") is None
    assert parse_winner("Winner: Answer B") == "B" and parse_winner("winner: tie") == "tie"
    assert pairwise_value("A", "B") == 1.0 and pairwise_value("B", "A") == 0.0 and pairwise_value("A", "A") == 0.5
    assert pairwise_value("A", "tie") == 1.0 and pairwise_value(None, "A") is None


@pytest.mark.slow
def test_similarity_with_the_bundled_minilm(shared_models_dir):
    from core.evaluation.embedding import bundled_encoder

    encode = bundled_encoder(shared_models_dir)
    items = [CheckInput("How do I reset my password?", "I forgot my password, how can I change it?", encode=encode),
             CheckInput("How do I reset my password?", "The invoice shows the wrong VAT number.", encode=encode)]
    close, far = run_check("similarity", items, {"threshold": 0.6})
    assert close.passed is True and far.passed is False and close.value > far.value
    assert run_check("similarity", [CheckInput("x")], {})[0].passed is None
