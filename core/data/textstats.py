"""Text statistics that need more than pandas: token counts, near-duplicates (MinHash LSH) and language mix."""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

_WORD_RE = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=4)
def tokenizer_for(path: str):
    """The fast (Rust) tokenizer straight from tokenizer.json: counting tokens needs no transformers import,
    which alone takes seconds; folders without tokenizer.json fall back to transformers."""
    from pathlib import Path

    file = Path(path) / "tokenizer.json"
    if file.exists():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(file))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


def token_lengths(texts: list[str], tokenizer_path: str, batch_size: int = 4096) -> np.ndarray:
    """Tokens per text, without special tokens."""
    tokenizer = tokenizer_for(tokenizer_path)
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        if hasattr(tokenizer, "encode_batch"):
            encoded = tokenizer.encode_batch(batch, add_special_tokens=False)
            lengths[start:start + len(batch)] = [len(e.ids) for e in encoded]
        else:
            encoded = tokenizer(batch, add_special_tokens=False, return_attention_mask=False)
            lengths[start:start + len(batch)] = [len(ids) for ids in encoded["input_ids"]]
    return lengths


_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 32]] = True


def word_counts(arrow, block: int = 65_536) -> np.ndarray:
    """Words (runs of non-space characters) per string of a pyarrow string array, straight from its UTF-8 buffer.

    A word starts at a non-space byte that follows a space byte or the start of its string; a cumulative sum of
    word starts read at the string offsets gives the counts. Blocks of strings keep the temporary arrays small.
    Many times faster than a regex per row.
    """
    import pyarrow as pa

    results = []
    for chunk in getattr(arrow, "chunks", [arrow]):
        for start in range(0, len(chunk), block):
            piece = chunk.slice(start, block)
            if piece.null_count:
                piece = piece.fill_null("")
            if not pa.types.is_string(piece.type):
                piece = piece.cast(pa.string())
            _, offsets_buffer, data_buffer = piece.buffers()
            offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[piece.offset:piece.offset + len(piece) + 1]
            first, last = int(offsets[0]), int(offsets[-1])
            data = np.frombuffer(data_buffer, dtype=np.uint8)[first:last] if data_buffer else np.empty(0, np.uint8)
            relative = offsets - first
            space = _ASCII_SPACE[data]
            after_space = np.ones_like(space)
            after_space[1:] = space[:-1]
            string_starts = relative[:-1][relative[:-1] < len(data)]
            after_space[string_starts] = True
            cumulative = np.zeros(len(data) + 1, dtype=np.int32)
            np.cumsum(~space & after_space, out=cumulative[1:])
            results.append(cumulative[relative[1:]] - cumulative[relative[:-1]])
    return np.concatenate(results) if results else np.empty(0, dtype=np.int32)


def _shingles(text: str, size: int = 3) -> set[bytes]:
    words = _WORD_RE.findall(text.lower())
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)}


def near_duplicate_pairs(texts: pd.Series, threshold: float = 0.8, num_perm: int = 64,
                         max_pairs: int = 20) -> tuple[int, list[tuple[int, int, float]]]:
    """Rows (by index label) whose word 3-gram Jaccard similarity is above `threshold`, exact copies excluded.

    Returns (rows that have a near-duplicate, example pairs with their estimated similarity).
    """
    from datasketch import MinHash, MinHashLSH

    distinct = texts.dropna()
    distinct = distinct[~distinct.duplicated()]
    labels = distinct.index.tolist()
    sets = [_shingles(t) for t in distinct.tolist()]
    keep = [i for i, s in enumerate(sets) if s]
    if len(keep) < 2:
        return 0, []
    hashes = MinHash.bulk([sets[i] for i in keep], num_perm=num_perm)
    lsh = MinHashLSH(threshold=_candidate_threshold(threshold), num_perm=num_perm)
    with lsh.insertion_session() as session:
        for position, minhash in zip(keep, hashes):
            session.insert(position, minhash, check_duplication=False)
    involved: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for position, minhash in zip(keep, hashes):
        if position in involved and len(pairs) >= max_pairs:
            continue
        # Stop at the first confirmed partner: clusters of near-copies would otherwise cost n^2 comparisons.
        for other in lsh.query(minhash):
            if other == position:
                continue
            similarity = _jaccard(sets[position], sets[other])
            if similarity < threshold:
                continue
            involved.update((position, other))
            if len(pairs) < max_pairs and position < other:
                pairs.append((labels[position], labels[other], round(float(similarity), 3)))
            break
    return len(involved), pairs


def near_duplicate_later_rows(texts: pd.Series, threshold: float = 0.8, num_perm: int = 64) -> list:
    """Labels of rows that nearly repeat an earlier kept row (the first of each group stays)."""
    from datasketch import MinHash, MinHashLSH

    labels, sets = [], []
    for label, text in texts.items():
        shingles = _shingles(text)
        if shingles:
            labels.append(label)
            sets.append(shingles)
    if len(sets) < 2:
        return []
    hashes = MinHash.bulk(sets, num_perm=num_perm)
    lsh = MinHashLSH(threshold=_candidate_threshold(threshold), num_perm=num_perm)
    later = []
    for position, minhash in enumerate(hashes):
        if any(_jaccard(sets[position], sets[kept]) >= threshold for kept in lsh.query(minhash)):
            later.append(labels[position])
        else:
            lsh.insert(position, minhash)  # only kept rows stand for their group
    return later


def _candidate_threshold(threshold: float) -> float:
    """LSH finds candidates at a lower bar (so few true pairs slip through its banding), then each candidate
    is confirmed with the exact Jaccard similarity of its shingle sets."""
    return max(0.3, threshold - 0.25)


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def language_mix(texts: list[str]) -> dict[str, int]:
    """Counts of detected languages (ISO 639-1) over texts long enough to tell; short ones count as 'short'."""
    import py3langid

    counts: dict[str, int] = {}
    for text in texts:
        language = py3langid.classify(text)[0] if len(text.strip()) >= 12 else "short"
        counts[language] = counts.get(language, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def near_matches(reference: pd.Series, queries: pd.Series, threshold: float = 0.8,
                 num_perm: int = 64) -> list[tuple[int, int, float]]:
    """For each query text with a near-duplicate among the reference texts: (query label, reference label, similarity)."""
    from datasketch import MinHash, MinHashLSH

    ref_labels, ref_sets = [], []
    for label, text in reference.items():
        shingles = _shingles(text)
        if shingles:
            ref_labels.append(label)
            ref_sets.append(shingles)
    query_items = [(label, _shingles(text)) for label, text in queries.items()]
    query_items = [(label, s) for label, s in query_items if s]
    if not ref_sets or not query_items:
        return []
    ref_hashes = MinHash.bulk(ref_sets, num_perm=num_perm)
    lsh = MinHashLSH(threshold=_candidate_threshold(threshold), num_perm=num_perm)
    with lsh.insertion_session() as session:
        for position, minhash in enumerate(ref_hashes):
            session.insert(position, minhash, check_duplication=False)
    query_hashes = MinHash.bulk([s for _, s in query_items], num_perm=num_perm)
    found = []
    for (label, shingles), minhash in zip(query_items, query_hashes):
        best = max(((_jaccard(shingles, ref_sets[p]), p) for p in lsh.query(minhash)), default=None)
        if best and best[0] >= threshold:
            found.append((label, ref_labels[best[1]], round(float(best[0]), 3)))
    return found
