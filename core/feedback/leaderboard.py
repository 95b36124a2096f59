"""Scores with bootstrap intervals, pairwise win rates, a Bradley-Terry leaderboard and Elo, as numpy over lists.

Bootstraps resample counts, not rows: a mean of answers that take few distinct values (Likert 1-5, thumbs) is
resampled by drawing the count of each value from a multinomial, and pairwise votes by drawing the count of each
(pair, outcome) cell, which is the same distribution as resampling rows and costs the same for 100 or 100,000
answers. Bradley-Terry strengths come from Hunter's MM iterations (ties count half a win each way), run for all
bootstrap rounds at once, and are shown on the Elo scale (400 log10, mean 1000).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ROUNDS = 1000
LEVEL = 0.95
ELO_K = 16.0
SCALE = 400.0 / np.log(10.0)
PRIOR = 0.1  # pseudo-ties between every pair that met, so a model that never lost keeps a finite strength


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def bootstrap_mean(values: Sequence[float], *, rounds: int = ROUNDS, level: float = LEVEL, seed: int = 0) -> Estimate:
    """The mean with a percentile bootstrap interval."""
    data = np.asarray(values, dtype=float)
    if not len(data):
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    distinct, counts = np.unique(data, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(data), counts / counts.sum(), size=rounds)
    means = draws @ distinct / len(data)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(float(data.mean()), float(low), float(high), int(len(data)))


@dataclass(frozen=True)
class Vote:
    """One pairwise judgement: `winner` is "a", "b" or "tie"."""

    a: str
    b: str
    winner: str


@dataclass(frozen=True)
class WinRate:
    model: str
    wins: int
    losses: int
    ties: int

    @property
    def games(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def rate(self) -> float | None:
        """Wins plus half the ties, over all games."""
        return (self.wins + 0.5 * self.ties) / self.games if self.games else None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "wins": self.wins, "losses": self.losses, "ties": self.ties,
                "games": self.games, "win_rate": self.rate}


OUTCOMES = ("a", "b", "tie")


@dataclass(frozen=True)
class VoteArrays:
    """Votes as numpy columns, oldest first: model codes `a` and `b` into `models`, `outcome` an index into OUTCOMES.
    The statistics over 100k ratings build these directly instead of 100k Vote objects."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray

    @classmethod
    def of(cls, votes: Sequence[Vote]) -> "VoteArrays":
        codes: dict[str, int] = {}
        a = np.fromiter((codes.setdefault(v.a, len(codes)) for v in votes), dtype=np.int64, count=len(votes))
        b = np.fromiter((codes.setdefault(v.b, len(codes)) for v in votes), dtype=np.int64, count=len(votes))
        outcome = np.fromiter((OUTCOMES.index(v.winner) for v in votes), dtype=np.int64, count=len(votes))
        return cls(list(codes), a, b, outcome)

    def played(self) -> "VoteArrays":
        """Only votes between two different models."""
        keep = self.a != self.b
        return VoteArrays(self.models, self.a[keep], self.b[keep], self.outcome[keep])


def _cells(votes: Sequence[Vote] | VoteArrays) -> dict[tuple[str, str, str], int]:
    """Votes counted by (a, b, winner), in the order each cell first appears (the bootstrap draws depend on it):
    the rest of the arithmetic runs over these few cells."""
    arrays = (votes if isinstance(votes, VoteArrays) else VoteArrays.of(votes)).played()
    if not len(arrays.a):
        return {}
    size = len(arrays.models)
    key = (arrays.a * size + arrays.b) * len(OUTCOMES) + arrays.outcome
    unique, first, counts = np.unique(key, return_index=True, return_counts=True)
    cells = {}
    for n in np.argsort(first, kind="stable"):
        code = int(unique[n])
        pair, outcome = divmod(code, len(OUTCOMES))
        a, b = divmod(pair, size)
        cells[(arrays.models[a], arrays.models[b], OUTCOMES[outcome])] = int(counts[n])
    return cells


def win_rates(votes: Sequence[Vote] | VoteArrays) -> list[WinRate]:
    return _win_rates(_cells(votes))


def _win_rates(cells: dict[tuple[str, str, str], int]) -> list[WinRate]:
    tally: dict[str, list[int]] = {}
    for (a, b, winner), count in cells.items():
        for model in (a, b):
            tally.setdefault(model, [0, 0, 0])
        if winner == "tie":
            tally[a][2] += count
            tally[b][2] += count
        else:
            won, lost = (a, b) if winner == "a" else (b, a)
            tally[won][0] += count
            tally[lost][1] += count
    rates = [WinRate(m, *t) for m, t in tally.items()]
    return sorted(rates, key=lambda r: (-(r.rate or 0), r.model))


def pair_matrix(votes: Sequence[Vote] | VoteArrays) -> tuple[list[str], np.ndarray]:
    """Models, and W[i, j] = wins of i over j plus half their ties."""
    return _pair_matrix(_cells(votes))


def _pair_matrix(cells: dict[tuple[str, str, str], int]) -> tuple[list[str], np.ndarray]:
    models = sorted({a for a, _, _ in cells} | {b for _, b, _ in cells})
    index = {m: i for i, m in enumerate(models)}
    wins = np.zeros((len(models), len(models)))
    for (a, b, winner), count in cells.items():
        i, j = index[a], index[b]
        if winner == "a":
            wins[i, j] += count
        elif winner == "b":
            wins[j, i] += count
        else:
            wins[i, j] += 0.5 * count
            wins[j, i] += 0.5 * count
    return models, wins


def bradley_terry(wins: np.ndarray, *, iterations: int = 200, tolerance: float = 1e-9) -> np.ndarray:
    """Log-strengths (mean 0) from win matrices; `wins` is (M, M) or a stack (R, M, M) fitted all at once."""
    stack = wins[None] if wins.ndim == 2 else wins
    games = stack + np.swapaxes(stack, 1, 2)
    met = games > 0
    stack = stack + PRIOR * met / 2.0
    games = games + PRIOR * met
    total_wins = stack.sum(axis=2)
    strength = np.ones(stack.shape[:2])
    for _ in range(iterations):
        pair = strength[:, :, None] + strength[:, None, :]
        denominator = (games / pair).sum(axis=2)
        updated = np.where(denominator > 0, total_wins / np.where(denominator > 0, denominator, 1.0), strength)
        updated = np.maximum(updated, 1e-12)
        updated /= np.exp(np.log(updated).mean(axis=1, keepdims=True))
        change = np.abs(updated - strength).max()
        strength = updated
        if change < tolerance:
            break
    logs = np.log(strength)
    return logs[0] if wins.ndim == 2 else logs


@dataclass(frozen=True)
class Standing:
    model: str
    score: float  # Bradley-Terry on the Elo scale
    low: float
    high: float
    elo: float  # sequential Elo over the votes in time order
    games: int
    win_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "bt_score": self.score, "ci_low": self.low, "ci_high": self.high,
                "elo": self.elo, "games": self.games, "win_rate": self.win_rate}


def leaderboard(votes: Sequence[Vote] | VoteArrays, *, rounds: int = ROUNDS, level: float = LEVEL,
                seed: int = 0) -> list[Standing]:
    """Bradley-Terry scores with bootstrap intervals (votes resampled), Elo and win rates, best first."""
    arrays = (votes if isinstance(votes, VoteArrays) else VoteArrays.of(votes)).played()
    if not len(arrays.a):
        return []
    named = _cells(arrays)
    models, wins = _pair_matrix(named)
    point = bradley_terry(wins) * SCALE + 1000.0
    # The votes as counts of (i, j, outcome) cells, resampled all together.
    index = {m: i for i, m in enumerate(models)}
    cells = {(index[a], index[b], winner): count for (a, b, winner), count in named.items()}
    keys = list(cells)
    counts = np.array([cells[k] for k in keys], dtype=float)
    draws = np.random.default_rng(seed).multinomial(len(arrays.a), counts / counts.sum(),
                                                    size=rounds).astype(float)
    stack = np.zeros((rounds, len(models), len(models)))
    for column, (i, j, outcome) in enumerate(keys):
        if outcome == "a":
            stack[:, i, j] += draws[:, column]
        elif outcome == "b":
            stack[:, j, i] += draws[:, column]
        else:
            stack[:, i, j] += draws[:, column] / 2.0
            stack[:, j, i] += draws[:, column] / 2.0
    scores = bradley_terry(stack, iterations=100, tolerance=1e-6) * SCALE + 1000.0
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(scores, [tail, 1.0 - tail], axis=0)
    elo = elo_ratings(arrays)
    rates = {r.model: r for r in _win_rates(named)}
    standings = [Standing(model=m, score=float(point[i]), low=float(low[i]), high=float(high[i]),
                          elo=elo.get(m, 1000.0), games=rates[m].games, win_rate=rates[m].rate)
                 for i, m in enumerate(models)]
    return sorted(standings, key=lambda s: (-s.score, s.model))


def elo_ratings(votes: Sequence[Vote] | VoteArrays, *, k: float = ELO_K, start: float = 1000.0) -> dict[str, float]:
    """Online Elo over the votes in the order given (oldest first)."""
    arrays = votes if isinstance(votes, VoteArrays) else VoteArrays.of(votes)
    ratings = [start] * len(arrays.models)
    seen = [False] * len(arrays.models)
    scores = (1.0, 0.0, 0.5)
    for a, b, outcome in zip(arrays.a.tolist(), arrays.b.tolist(), arrays.outcome.tolist()):
        ra, rb = ratings[a], ratings[b]
        change = k * (scores[outcome] - 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0)))
        ratings[a], ratings[b] = ra + change, rb - change
        seen[a] = seen[b] = True
    return {m: ratings[n] for n, m in enumerate(arrays.models) if seen[n]}
