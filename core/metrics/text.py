"""Small pure text measures: the exact-match normalisation, word counts and Flesch reading ease."""
from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")


def normalise_answer(text: str) -> str:
    """The form compared by exact match: Unicode NFC, whitespace collapsed to single spaces, stripped, casefolded.

    Punctuation and articles are kept: "Paris." and "Paris" do not match.
    """
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def exact_match(output: str, reference: str) -> float:
    """1.0 when the normalised output equals the normalised reference, else 0.0."""
    return 1.0 if normalise_answer(output) == normalise_answer(reference) else 0.0


def word_count(text: str) -> int:
    """Number of whitespace-separated tokens (punctuation attached to a word does not count apart)."""
    return len(text.split())


def count_syllables(word: str) -> int:
    """English syllable estimate: groups of vowels (y included), less a silent final e; at least 1.

    Accents are stripped first; a word in a script without Latin vowels counts as one syllable.
    """
    letters = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if "a" <= c <= "z")
    count = len(_VOWEL_GROUP.findall(letters))
    if count > 1 and word.lower().endswith("e") and not letters.endswith(("le", "ee", "ye")):  # not "café"
        count -= 1
    return max(1, count)


def flesch_reading_ease(text: str) -> float | None:
    """Flesch reading ease: 206.835 - 1.015 words/sentence - 84.6 syllables/word; None for text without words.

    Words are runs of letters (apostrophes inside allowed); sentences are the stretches between runs of
    . ! ? or … that hold a word (at least one). Higher is easier; the value is not clipped, so it can
    fall below 0 or rise above 100.
    The syllable count is an English heuristic, so the score means little for other languages.
    """
    words = _WORD.findall(text)
    if not words:
        return None
    sentences = max(1, sum(1 for part in _SENTENCE_END.split(text) if _WORD.search(part)))
    syllables = sum(count_syllables(word) for word in words)
    return 206.835 - 1.015 * (len(words) / sentences) - 84.6 * (syllables / len(words))
