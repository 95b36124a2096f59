"""MinHash signatures and LSH banding in numpy, for near-duplicate search over word 3-gram shingles.

All signatures of a batch come from one vectorised pass (every shingle hash through every permutation, then a
minimum per text), so thousands of texts take milliseconds; datasketch does the same per text in Python and
its import alone pulls in scipy. Shingles are hashed with CRC-32, which is stable across processes, so the
same data always gives the same candidates. Candidates are confirmed with the exact Jaccard similarity.
"""
from __future__ import annotations

import re
import zlib
from functools import lru_cache

import numpy as np

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_PRIME = np.uint64((1 << 61) - 1)
_MASK32 = np.uint64(0xFFFFFFFF)
_CHUNK = 1 << 16  # shingles per block: bounds the (shingles x permutations) temporary to a few MiB


def shingles(text: str, size: int = 3) -> frozenset[int]:
    """CRC-32 hashes of the text's lower-cased word `size`-grams (the whole text when it is shorter)."""
    words = _WORD_RE.findall(text.lower())
    if len(words) < size:
        return frozenset((zlib.crc32(" ".join(words).encode()),)) if words else frozenset()
    return frozenset(zlib.crc32(" ".join(words[i:i + size]).encode()) for i in range(len(words) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, (1 << 32) - 1, num_perm, dtype=np.uint64)
    b = rng.integers(0, (1 << 32) - 1, num_perm, dtype=np.uint64)
    return a, b


def signatures(sets: list[frozenset[int]], num_perm: int = 64, seed: int = 1) -> np.ndarray:
    """(len(sets), num_perm) uint32 MinHash signatures; every set must be non-empty."""
    a, b = _permutations(num_perm, seed)
    sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    hashes = np.fromiter((h for s in sets for h in s), dtype=np.uint64, count=int(sizes.sum()))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    result = np.empty((len(sets), num_perm), dtype=np.uint32)
    # Blocks of whole texts keep the temporary small; (a*h + b) mod p (p = 2^61 - 1) fits uint64 for 32-bit a, h, b.
    first = 0
    while first < len(sets):
        last = int(np.searchsorted(starts, starts[first] + _CHUNK, side="right"))
        last = max(last, first + 1)
        lo, hi = starts[first], starts[last - 1] + sizes[last - 1]
        permuted = ((hashes[lo:hi, None] * a + b) % _PRIME) & _MASK32
        result[first:last] = np.minimum.reduceat(permuted, starts[first:last] - lo, axis=0)
        first = last
    return result


@lru_cache(maxsize=32)
def band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimising false positives plus false negatives around `threshold`,
    the same choice datasketch makes, integrated with numpy."""
    grid = np.linspace(0.0, 1.0, 201)
    best, best_error = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            chance = 1 - (1 - grid ** rows) ** bands
            below, above = grid <= threshold, grid >= threshold
            false_positive = np.trapezoid(chance[below], grid[below])
            false_negative = np.trapezoid(1 - chance[above], grid[above])
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


def band_keys(signature: np.ndarray, threshold: float) -> np.ndarray:
    """(n, bands) uint64 bucket keys: two texts share a key in some band when they are LSH candidates."""
    bands, rows = band_layout(threshold, signature.shape[1])
    used = signature[:, :bands * rows].astype(np.uint64).reshape(len(signature), bands, rows)
    mixers = np.random.default_rng(7).integers(1, 1 << 63, rows, dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        keys = (used * mixers).sum(axis=2, dtype=np.uint64)
    # Mixing in the band number keeps equal values in different bands apart (but for a 2^-64 chance).
    return keys ^ (np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def candidate_groups(keys: np.ndarray) -> list[np.ndarray]:
    """Positions sharing a bucket, one array per bucket with at least two members (ascending positions)."""
    flat = keys.ravel()
    owners = np.repeat(np.arange(len(keys)), keys.shape[1])
    order = np.lexsort((owners, flat))
    flat, owners = flat[order], owners[order]
    boundaries = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(flat)]))
    return [owners[s:e] for s, e in zip(starts, ends) if e - s > 1]
