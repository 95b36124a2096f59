"""Text statistics that need more than pandas: token counts, near-duplicates (MinHash LSH) and language mix."""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import pandas as pd

from core.data import minhash


_LOADING = threading.Lock()  # one thread loads a model; others asking for it meanwhile wait instead of loading it again


def tokenizer_for(path: str):
    with _LOADING:
        return _tokenizer_for(path)


@lru_cache(maxsize=4)
def _tokenizer_for(path: str):
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
        if hasattr(tokenizer, "encode_batch_fast"):  # no character offsets: about 15% faster, same ids
            encoded = tokenizer.encode_batch_fast(batch, add_special_tokens=False)
            lengths[start:start + len(batch)] = [len(e.ids) for e in encoded]
        elif hasattr(tokenizer, "encode_batch"):
            encoded = tokenizer.encode_batch(batch, add_special_tokens=False)
            lengths[start:start + len(batch)] = [len(e.ids) for e in encoded]
        else:
            encoded = tokenizer(batch, add_special_tokens=False, return_attention_mask=False)
            lengths[start:start + len(batch)] = [len(ids) for ids in encoded["input_ids"]]
    return lengths


def word_counts(arrow) -> np.ndarray:
    """Words (runs of non-space characters) per string of a pyarrow string array, straight from its UTF-8 buffer.

    A word starts at a non-space byte that follows a space byte or the start of its string; summing the starts
    over each string's byte range gives the counts. Many times faster than a regex per row, and it reads
    large_string arrays (pandas' default) in place instead of casting them.
    """
    import pyarrow as pa

    # Slices of 64k strings keep the temporaries (a byte mask, a 64-bit sum per string) small and in cache,
    # however the array is chunked.
    pieces = (chunk.slice(start, 1 << 16) for chunk in getattr(arrow, "chunks", [arrow])
              for start in range(0, len(chunk), 1 << 16))
    results = []
    for chunk in pieces:
        if chunk.null_count:
            chunk = chunk.fill_null("")
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.large_string())
        _, offsets_buffer, data_buffer = chunk.buffers()
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
        first, last = int(offsets[0]), int(offsets[-1])
        data = np.frombuffer(data_buffer, dtype=np.uint8)[first:last] if data_buffer else np.empty(0, np.uint8)
        relative = offsets.astype(np.int64) - first
        space = (data == 32) | ((data >= 9) & (data <= 13))  # ASCII whitespace: space, \t \n \v \f \r
        starts = ~space
        starts[1:] &= space[:-1]
        nonempty = relative[:-1] < relative[1:]
        string_starts = relative[:-1][nonempty]
        starts[string_starts] = ~space[string_starts]
        counts = np.zeros(len(chunk), dtype=np.int64)
        if len(string_starts):
            # Empty strings are left out of the boundaries, so each segment is exactly one non-empty string.
            counts[nonempty] = np.add.reduceat(starts.view(np.uint8), string_starts, dtype=np.int64)
        results.append(counts)
    return np.concatenate(results) if results else np.empty(0, dtype=np.int64)


# Each row is checked against at most this many later rows of a bucket: a bucket of thousands of similar but not
# near-duplicate texts would otherwise cost millions of exact comparisons; pairs missed in one band's bucket are
# usually caught in another's.
_BUCKET_WINDOW = 64


def near_duplicate_pairs(texts: pd.Series, threshold: float = 0.8, num_perm: int = 64,
                         max_pairs: int = 20) -> tuple[int, list[tuple[int, int, float]]]:
    """Rows (by index label) whose word 3-gram Jaccard similarity is above `threshold`, exact copies excluded.

    Returns (rows that have a near-duplicate, example pairs with their exact similarity).
    """
    distinct = texts.dropna()
    distinct = distinct[~distinct.duplicated()]
    labels = distinct.index.tolist()
    sets = [minhash.shingles(t) for t in distinct.tolist()]
    keep = [i for i, s in enumerate(sets) if s]
    if len(keep) < 2:
        return 0, []
    keys = minhash.band_keys(minhash.signatures([sets[i] for i in keep], num_perm), _candidate_threshold(threshold))
    involved: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for group in minhash.candidate_groups(keys):
        members = [keep[g] for g in group]
        if len(pairs) >= max_pairs and involved.issuperset(members):
            continue  # every member is already counted: a bucket of near-copies costs one pass, not n^2 checks
        for i, first in enumerate(members):
            for second in members[i + 1:i + 1 + _BUCKET_WINDOW]:
                # A pair between rows already counted adds nothing once the examples are full; clusters of
                # near-copies would otherwise cost n^2 exact comparisons.
                if first == second or (first in involved and second in involved and len(pairs) >= max_pairs):
                    continue
                similarity = minhash.jaccard(sets[first], sets[second])
                if similarity < threshold:
                    continue
                if len(pairs) < max_pairs and not (first in involved and second in involved):
                    pairs.append((labels[first], labels[second], round(float(similarity), 3)))
                involved.update((first, second))
    return len(involved), sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


def _shingled(texts: pd.Series) -> tuple[list, list[frozenset]]:
    """(labels, shingle sets) of the texts that have at least one word."""
    labels, sets = [], []
    for label, text in texts.items():
        shingles = minhash.shingles(text)
        if shingles:
            labels.append(label)
            sets.append(shingles)
    return labels, sets


def near_duplicate_later_rows(texts: pd.Series, threshold: float = 0.8, num_perm: int = 64) -> list:
    """Labels of rows that nearly repeat an earlier kept row (the first of each group stays)."""
    labels, sets = _shingled(texts)
    if len(sets) < 2:
        return []
    keys = minhash.band_keys(minhash.signatures(sets, num_perm), _candidate_threshold(threshold)).tolist()
    buckets: dict[int, list[int]] = {}
    later = []
    for position, row_keys in enumerate(keys):
        candidates = {kept for key in row_keys for kept in buckets.get(key, ())}
        if any(minhash.jaccard(sets[position], sets[kept]) >= threshold for kept in candidates):
            later.append(labels[position])
            continue
        for key in row_keys:  # only kept rows stand for their group
            buckets.setdefault(key, []).append(position)
    return later


def _candidate_threshold(threshold: float) -> float:
    """LSH finds candidates at a lower bar (so few true pairs slip through its banding), then each candidate
    is confirmed with the exact Jaccard similarity of its shingle sets."""
    return max(0.3, threshold - 0.25)


def language_identifier():
    """py3langid's model, loaded once per process."""
    with _LOADING:
        return _language_identifier()


@lru_cache(maxsize=1)
def _language_identifier():
    """The package ships its model LZMA-compressed, which takes half a second of CPU to unpack at every start; the
    unpacked npz is kept in the workbench cache and read from there (about 0.15 s) on later starts."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    try:
        return _identifier_from_npz(LanguageIdentifier, unpack_language_model())
    except (OSError, ValueError, KeyError, ImportError):  # unwritable home, a torn file, a changed layout
        return LanguageIdentifier.from_model_file(MODEL_FILE)


def unpack_language_model(cache_dir=None):
    """The path of the unpacked language model in the workbench cache (the home's, by default), unpacking it the
    first time (`workbench init` does, so that a new home's first profile does not pay for it)."""
    from importlib.metadata import version

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    from core.settings import Settings

    unpacked = (cache_dir or Settings.from_env().cache_dir) / f"py3langid-{version('py3langid')}-model.npz"
    if not unpacked.exists():
        _unpack(MODEL_DIR / MODEL_FILE, unpacked)
    return unpacked


def _unpack(packed, target) -> None:
    import lzma
    import shutil

    from core.files import atomic_path

    target.parent.mkdir(parents=True, exist_ok=True)
    # Whole or not at all: a concurrent reader never sees a torn file.
    with atomic_path(target, suffix=".npz") as tmp, lzma.open(packed) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, length=1 << 20)


def _identifier_from_npz(identifier_class, path):
    """What py3langid's own loader builds, from the unpacked npz (same arrays, same conversions)."""
    from py3langid.modelio import _to_array

    with np.load(path, allow_pickle=False) as data:
        return identifier_class(np.asarray(data["ptc"]), np.asarray(data["pc"]), data["classes"].tolist(),
                                _to_array(data["nextmove"]), data["out_feat"].tolist(),
                                tk_row=_to_array(data["nextmove_row"]))


def warm_up(tokenizer_path: str | None = None) -> None:
    """Starts loading the language model and the tokenizer on another thread, so that they are ready by the
    time the text statistics need them (LZMA and the Rust tokenizer mostly run without the GIL)."""
    def load():
        language_identifier()
        if tokenizer_path:
            tokenizer_for(tokenizer_path)
    threading.Thread(target=load, name="profile-warm-up", daemon=True).start()


def language_mix(texts: list[str]) -> dict[str, int]:
    """Counts of detected languages (ISO 639-1) over texts long enough to tell; short ones count as 'short'."""
    identifier = language_identifier()
    counts: dict[str, int] = {}
    for text in texts:
        language = identifier.classify(text)[0] if len(text.strip()) >= 12 else "short"
        counts[language] = counts.get(language, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def near_matches(reference: pd.Series, queries: pd.Series, threshold: float = 0.8,
                 num_perm: int = 64) -> list[tuple[int, int, float]]:
    """For each query text with a near-duplicate among the reference texts: (query label, reference label, similarity)."""
    ref_labels, ref_sets = _shingled(reference)
    query_labels, query_sets = _shingled(queries)
    if not ref_sets or not query_sets:
        return []
    candidate = _candidate_threshold(threshold)
    buckets: dict[int, list[int]] = {}
    for position, row_keys in enumerate(minhash.band_keys(minhash.signatures(ref_sets, num_perm), candidate).tolist()):
        for key in row_keys:
            buckets.setdefault(key, []).append(position)
    found = []
    query_keys = minhash.band_keys(minhash.signatures(query_sets, num_perm), candidate).tolist()
    for label, shingles, row_keys in zip(query_labels, query_sets, query_keys):
        candidates = {p for key in row_keys for p in buckets.get(key, ())}
        best = max(((minhash.jaccard(shingles, ref_sets[p]), p) for p in candidates), default=None)
        if best and best[0] >= threshold:
            found.append((label, ref_labels[best[1]], round(float(best[0]), 3)))
    return found
