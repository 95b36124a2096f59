"""Prompt-lookup guesses: what a row proposes, how many of its guesses a step keeps, and how many a step carries."""
import pytest

from core.inference.drafts import DraftPolicy, NgramLookup, kept_guesses


def test_a_row_proposes_what_followed_the_latest_occurrence_of_its_longest_known_ending():
    lookup = NgramLookup([5, 6, 7, 8, 9, 6, 7, 1, 2])
    assert lookup.propose(3) == ([], 0)  # it ends with 2, never seen before it
    lookup.extend([6, 7])
    # "6 7" ends the sequence; its latest earlier occurrence is followed by 1, 2, 6 (not the first one's 8, 9).
    assert lookup.propose(3) == ([1, 2, 6], 2)
    assert lookup.propose(1) == ([1], 2) and lookup.propose(0) == ([], 0)
    lookup.extend([8])
    # The longest known ending wins: "6 7 8" (followed by 9) over "7 8" or "8" alone.
    assert lookup.propose(4) == ([9, 6, 7, 1], 3)
    # A continuation may run up to the sequence's end, never past it.
    assert NgramLookup([3, 4, 3]).propose(5) == ([4, 3], 1)


def test_only_the_leading_guesses_the_model_would_have_chosen_are_kept():
    assert kept_guesses([4, 5, 6], [4, 5, 9, 1]) == 2
    assert kept_guesses([4, 5, 6], [7, 5, 6, 1]) == 0  # a later match after a miss does not count
    assert kept_guesses([4, 5], [4, 5, 8]) == 2
    assert kept_guesses([], [3]) == 0


def test_the_policy_carries_guesses_only_where_measured_times_and_kept_shares_say_they_pay():
    policy = DraftPolicy(max_tokens=3)
    rows = [(2, 1), (0, 0), (3, 3), (1, 1)]  # (guesses, n of the match) of four running rows
    assert policy.width(4, rows) == 1  # the plain step at 4 rows is not timed yet
    policy.timed(4, 0.040)
    assert policy.width(4, [(0, 0)] * 4) == 1  # nothing to guess
    assert policy.width(4, rows) == 2  # 8 rows not timed: tried once
    policy.timed(8, 0.042)  # about a plain step's time (the weights are read once either way): worth it
    assert policy.width(4, rows) == 3  # and 12 rows are not timed yet: tried once
    policy.timed(12, 0.120)  # three times as long: not worth it
    assert policy.width(4, rows) == 2
    # 16 rows are not tried: 12 did not pay, and a step costs no less for more rows.
    assert 16 not in policy.step_seconds
    assert policy.width(4, [(1, 1)] * 4) == 2  # never wider than the longest guess allows
    # Guesses that are never kept make every width cost more than it gives.
    for _ in range(200):
        policy.checked(1, proposed=1, kept=0)
        policy.checked(3, proposed=1, kept=0)
    assert policy.chance(1, 1) < 0.02 and policy.width(4, rows) == 1
    # Times are a moving average: one slow step does not condemn a width.
    before = policy.step_seconds[8]
    policy.timed(8, 1.0)
    assert before < policy.step_seconds[8] < 1.0


def test_kept_shares_are_counted_per_match_length_and_depth_while_every_guess_before_was_kept():
    policy = DraftPolicy(max_tokens=3)
    assert policy.chance(2, 1) == 0.5 and policy.chance(2, 2) == 0.25  # before any evidence
    policy.checked(3, proposed=3, kept=1)
    policy.checked(3, proposed=2, kept=2)
    policy.checked(1, proposed=1, kept=0)
    # After 3-token matches: depth 1 kept 2 of 2, depth 2 kept 1 of 2, depth 3 kept 0 of 1 (plus the prior).
    assert policy.chance(3, 1) == pytest.approx((2 + 1) / (2 + 2))
    assert policy.chance(3, 2) == pytest.approx((1 + 0.5) / (2 + 2))
    assert policy.chance(3, 3) == pytest.approx((0 + 0.25) / (1 + 2))
    assert policy.chance(1, 1) == pytest.approx(1 / 3)  # 1-token matches keep their own count
    # Expected tokens: each row's own token plus its expected kept guesses, by its match.
    expected = (1 + policy.chance(3, 1) + policy.chance(3, 2)) + 1 + (1 + policy.chance(1, 1))
    assert policy.tokens_per_step(3, [(3, 3), (0, 0), (1, 1)]) == pytest.approx(expected)
