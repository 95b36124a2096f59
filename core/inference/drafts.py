"""Prompt-lookup drafts for greedy decoding: guessed next tokens that one forward pass checks, answers unchanged.

Why: a decode step on the CPU reads every weight however few rows it carries, so a step of one row costs about what
a step of three does (bundled model, 2-core Xeon: 19.8 ms for 1 row, 21.9 ms for 3), and a step of 15 rows what one
of 30 does (both padded to MKL's 32-row packed weights). Those spare rows can check guesses: each row proposes the
tokens that followed the last time its latest n-gram appeared in its prompt or answer (answers quote their prompt and
repeat themselves), the step runs the row's token and its guesses together, and the guesses the model would have
chosen itself are kept, plus the model's own next token after them. Greedy answers are those of one token a step:
a guess is kept only where it equals the argmax at its position (in fp32: see PRECISIONS). transformers calls this
prompt lookup decoding; vLLM's "ngram" speculative decoding is the same idea.

How many guesses a step carries is measured, not assumed: `DraftPolicy` times the steps it runs by the number of
rows in their matrix multiplies, counts how often a guess is kept by its depth and by the length of the match it came
from, and picks the width with the most expected tokens per second (a width not timed yet is tried once, where the
next narrower one is the best so far). On the benchmark's answers a guess after a 3-token match was kept 88% of the
time, and five in a row 79%; after a 1-token match 23%.
"""
from __future__ import annotations

# Guesses run in fp32 only. They leave greedy answers unchanged there (64/64 in every benchmark run) while a step's
# width, chosen by timing, changes how rows are batched: in bf16 that moved 9-19 of the 64 answers, differently from
# run to run (its coarser logits tie more often), so bf16 and int8 decode one token a step and stay reproducible.
PRECISIONS = ("fp32",)
# Longest n-gram looked up (tried longest first, down to one token).
MAX_NGRAM = 3
# At most this many guesses per row and step: a row repeating a sentence keeps many (the benchmark's answers: after
# a 3-token match, 79% of 5 guesses in a row were kept; after a 1-token match 23% of one).
MAX_DRAFT_TOKENS = 7


class NgramLookup:
    """One row's prompt and answer so far, indexed by the n-grams (n = 1..MAX_NGRAM) ending at each position."""

    def __init__(self, tokens: list[int]):
        self.tokens: list[int] = []
        self._ends: dict[tuple[int, ...], int] = {}  # n-gram -> the last position it ends at, before the last token
        self.extend(tokens)

    def extend(self, tokens: list[int]) -> None:
        for token in tokens:
            # The n-grams ending at the current last token become findable once a token follows them.
            last = len(self.tokens) - 1
            for n in range(1, min(MAX_NGRAM, last + 1) + 1):
                self._ends[tuple(self.tokens[last - n + 1:last + 1])] = last
            self.tokens.append(token)

    def propose(self, count: int) -> tuple[list[int], int]:
        """Up to `count` tokens that followed the latest earlier occurrence of the longest n-gram the sequence ends
        with, and that n (how much the guess rests on); ([], 0) when it ends with nothing seen before."""
        if count <= 0:
            return [], 0
        tokens = self.tokens
        for n in range(min(MAX_NGRAM, len(tokens)), 0, -1):
            end = self._ends.get(tuple(tokens[-n:]))
            if end is not None:
                return tokens[end + 1:end + 1 + count], n
        return [], 0


def kept_guesses(guesses: list[int], predicted: list[int]) -> int:
    """How many leading guesses equal the model's own choice at their position (`predicted[i]` is the argmax after
    the step's token and guesses[:i])."""
    kept = 0
    while kept < len(guesses) and guesses[kept] == predicted[kept]:
        kept += 1
    return kept


class DraftPolicy:
    """Chooses how many tokens per row a step carries (1 = no guesses) from measured step times and kept guesses."""

    def __init__(self, max_tokens: int = MAX_DRAFT_TOKENS, step_seconds: dict[int, float] | None = None):
        self.max_tokens = max_tokens
        # Seconds of a step by the number of rows in its matrix multiplies (rows x tokens per row): a moving average,
        # shared by the runs on one prepared model (see core/inference/slots.py).
        self.step_seconds = step_seconds if step_seconds is not None else {}
        # By (n of the match, depth): guesses proposed, and of those kept with every guess before them.
        self.tried: dict[tuple[int, int], int] = {}
        self.kept: dict[tuple[int, int], int] = {}
        self._expected: dict[int, list[float]] = {}  # n -> expected kept guesses when carrying 0, 1, 2... of them

    def chance(self, n: int, depth: int) -> float:
        """The share of guesses at `depth` (1-based) after an n-token match kept so far, starting from one in two
        at depth 1, one in four at depth 2... (worth two guesses of evidence)."""
        return (self.kept.get((n, depth), 0) + 2 * 0.5 ** depth) / (self.tried.get((n, depth), 0) + 2)

    def expected_kept(self, n: int, carried: int) -> float:
        """Expected guesses kept of `carried` guesses after an n-token match."""
        sums = self._expected.get(n)
        if sums is None:
            sums = [0.0]
            for depth in range(1, self.max_tokens + 1):
                sums.append(sums[-1] + self.chance(n, depth))
            self._expected[n] = sums
        return sums[carried]

    def tokens_per_step(self, width: int, guesses: list[tuple[int, int]]) -> float:
        """Expected tokens a step gives when each row carries up to width - 1 of its guesses (`guesses`: how many
        each running row has, and the n of its match)."""
        return sum(1.0 + self.expected_kept(n, min(width - 1, count)) for count, n in guesses)

    def width(self, slots: int, guesses: list[tuple[int, int]]) -> int:
        """Tokens per row for the next step of `slots` rows whose running rows have these guesses. A width not timed
        yet at this many slots is tried once, when the next narrower one is the best timed so far (a step costs no
        less for more rows, so past a width that does not pay the next rarely does)."""
        longest = min(self.max_tokens, max((count for count, _ in guesses), default=0)) + 1
        if longest == 1 or slots not in self.step_seconds:
            return 1
        best, best_rate = 1, self.tokens_per_step(1, guesses) / self.step_seconds[slots]
        for width in range(2, longest + 1):
            seconds = self.step_seconds.get(slots * width)
            if seconds is None:
                return width if best == width - 1 else best
            rate = self.tokens_per_step(width, guesses) / seconds
            if rate > best_rate:
                best, best_rate = width, rate
        return best

    def timed(self, rows: int, seconds: float) -> None:
        """Records a step's time: rows = rows x tokens per row."""
        old = self.step_seconds.get(rows)
        self.step_seconds[rows] = seconds if old is None else 0.7 * old + 0.3 * seconds

    def checked(self, n: int, proposed: int, kept: int) -> None:
        """Records one row's step: `proposed` guesses after an n-token match were carried, the first `kept` kept."""
        for depth in range(1, proposed + 1):
            self.tried[n, depth] = self.tried.get((n, depth), 0) + 1
            if depth <= kept:
                self.kept[n, depth] = self.kept.get((n, depth), 0) + 1
        if proposed:
            self._expected.pop(n, None)
