"""Text statistics that need more than pandas: token counts, near-duplicates (MinHash LSH) and language mix."""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

_WORD_RE = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=4)
def tokenizer_for(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


def token_lengths(texts: list[str], tokenizer_path: str, batch_size: int = 2048) -> np.ndarray:
    """Tokens per text (no special tokens), with the fast tokenizer's batch encoder."""
    tokenizer = tokenizer_for(tokenizer_path)
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        encoded = tokenizer(batch, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False)
        lengths[start:start + len(batch)] = [len(ids) for ids in encoded["input_ids"]]
    return lengths


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
    by_position = dict(zip(keep, hashes))
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    with lsh.insertion_session() as session:
        for position, minhash in zip(keep, hashes):
            session.insert(position, minhash, check_duplication=False)
    involved: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for position, minhash in zip(keep, hashes):
        for other in lsh.query(minhash):
            if other <= position:
                continue
            similarity = minhash.jaccard(by_position[other])
            if similarity < threshold:
                continue
            involved.update((position, other))
            if len(pairs) < max_pairs:
                pairs.append((labels[position], labels[other], round(float(similarity), 3)))
    return len(involved), pairs


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
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    with lsh.insertion_session() as session:
        for position, minhash in enumerate(ref_hashes):
            session.insert(position, minhash, check_duplication=False)
    query_hashes = MinHash.bulk([s for _, s in query_items], num_perm=num_perm)
    found = []
    for (label, _), minhash in zip(query_items, query_hashes):
        best = max(((minhash.jaccard(ref_hashes[p]), p) for p in lsh.query(minhash)), default=None)
        if best and best[0] >= threshold:
            found.append((label, ref_labels[best[1]], round(float(best[0]), 3)))
    return found
