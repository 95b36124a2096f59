"""Bootstrap intervals, win rates, Bradley-Terry and Elo on votes with a known order."""
import numpy as np
import pytest

from core.feedback.leaderboard import (
    Vote,
    bootstrap_mean,
    bradley_terry,
    elo_ratings,
    leaderboard,
    pair_matrix,
    win_rates,
)


def test_bootstrap_interval_holds_the_mean_and_narrows_with_more_answers():
    rng = np.random.default_rng(0)
    few = bootstrap_mean(list(rng.integers(1, 6, 20)))
    many = bootstrap_mean(list(rng.integers(1, 6, 2000)))
    for estimate in (few, many):
        assert estimate.low <= estimate.mean <= estimate.high
    assert many.high - many.low < few.high - few.low
    assert bootstrap_mean([]).n == 0


def test_win_rates_count_ties_as_half():
    votes = [Vote("x", "y", "a"), Vote("x", "y", "tie"), Vote("y", "x", "a")]
    rates = {r.model: r for r in win_rates(votes)}
    assert (rates["x"].wins, rates["x"].losses, rates["x"].ties) == (1, 1, 1)
    assert rates["x"].rate == pytest.approx(0.5)


def test_bradley_terry_recovers_the_order_of_simulated_strengths():
    rng = np.random.default_rng(1)
    strength = {"strong": 2.0, "middle": 0.0, "weak": -2.0}
    names = list(strength)
    votes = []
    for _ in range(3000):
        a, b = rng.choice(3, 2, replace=False)
        p = 1 / (1 + np.exp(strength[names[b]] - strength[names[a]]))
        votes.append(Vote(names[a], names[b], "a" if rng.random() < p else "b"))
    board = leaderboard(votes, rounds=200)
    assert [s.model for s in board] == ["strong", "middle", "weak"]
    for standing in board:
        assert standing.low <= standing.score <= standing.high
    models, wins = pair_matrix(votes)
    logs = dict(zip(models, bradley_terry(wins)))
    assert logs["strong"] - logs["weak"] == pytest.approx(4.0, abs=0.35)


def test_a_model_that_never_lost_keeps_a_finite_score():
    board = leaderboard([Vote("a", "b", "a")] * 5, rounds=50)
    assert board[0].model == "a" and np.isfinite(board[0].score) and np.isfinite(board[1].low)


def test_elo_moves_the_winner_up():
    ratings = elo_ratings([Vote("a", "b", "a"), Vote("a", "b", "a")])
    assert ratings["a"] > 1000 > ratings["b"]
    assert ratings["a"] + ratings["b"] == pytest.approx(2000)
