"""Transformations that make new dataset versions from old ones: dedupe, filter, split and merge.

Each writes immutable versions whose lineage names the parents and the parameters used, so any training set
can be walked back to the files it came from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data import formats, textstats, versions
from core.data.overlap import comparable_text
from core.data.versions import VersionInfo
from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store

MAX_NEAR_DEDUPE_ROWS = 100_000


@dataclass(frozen=True)
class TransformResult:
    parents: list[VersionInfo]
    versions: list[VersionInfo]
    removed: int
    details: dict

    def to_dict(self) -> dict:
        return {"parents": [p.ref for p in self.parents], "versions": [v.ref for v in self.versions],
                "rows": [v.rows for v in self.versions], "removed": self.removed, **self.details}


def _load(store: Store, actor: Actor, ref: str) -> tuple[VersionInfo, pd.DataFrame]:
    require(actor, Permission.MANAGE_DATA)
    version = versions.get_version(store, actor=actor, ref=ref)
    return version, versions.load_frame(store, actor=actor, version=version)


def dedupe_version(store: Store, *, actor: Actor, ref: str, column: str | None = None, near: bool = False,
                   threshold: float = 0.8) -> TransformResult:
    """Keeps the first of each group of rows whose text is the same (case and spacing ignored), or nearly so."""
    parent, frame = _load(store, actor, ref)
    text, used = comparable_text(frame, column)
    normalised = text.astype("string").str.lower().str.replace(r"\s+", " ", regex=True).str.strip()
    drop = normalised.duplicated(keep="first") & normalised.notna()
    near_removed = 0
    if near:
        remaining = normalised[~drop].dropna()
        if len(remaining) > MAX_NEAR_DEDUPE_ROWS:
            raise InvalidInput(f"Near-duplicate removal handles up to {MAX_NEAR_DEDUPE_ROWS:,} rows; this version has "
                               f"{len(remaining):,}. Remove exact duplicates only, or split the dataset first.")
        later = textstats.near_duplicate_later_rows(remaining, threshold)
        near_removed = len(later)
        drop.loc[later] = True
    kept = frame[~drop.to_numpy()].reset_index(drop=True)
    params = {"column": used, "near": near, "threshold": threshold if near else None}
    version, _ = versions.save_version(store, actor=actor, name=parent.dataset, frame=kept, transformation="dedupe",
                                       source=f"dedupe of {parent.ref}", parents=[parent], params=params,
                                       stats={"removed_exact": int(drop.sum()) - near_removed, "removed_near": near_removed})
    return TransformResult([parent], [version], int(drop.sum()), {"removed_near": near_removed})


def filter_version(store: Store, *, actor: Actor, ref: str, drop_format_issues: bool = True,
                   require_columns: list[str] | None = None) -> TransformResult:
    """Drops rows that break the detected fine-tuning format and/or miss a value in the named columns."""
    parent, frame = _load(store, actor, ref)
    keep = np.ones(len(frame), dtype=bool)
    reasons: dict[str, int] = {}
    if drop_format_issues:
        report = formats.detect_format(frame, max_issues=None)
        if report.format == "unknown":
            raise InvalidInput(f"{parent.ref} is in no fine-tuning format, so there are no format problems to drop.")
        bad_rows = {issue.row for issue in report.issues}
        keep[list(bad_rows)] = False
        reasons["format_issues"] = len(bad_rows)
    for name in require_columns or []:
        if name not in frame.columns:
            raise InvalidInput(f"No column named '{name}'.")
        missing = frame[name].isna().to_numpy() & keep
        reasons[f"missing_{name}"] = int(missing.sum())
        keep &= ~frame[name].isna().to_numpy()
    if not keep.any():
        raise InvalidInput(f"Every row of {parent.ref} would be dropped; nothing was saved.")
    kept = frame[keep].reset_index(drop=True)
    version, _ = versions.save_version(
        store, actor=actor, name=parent.dataset, frame=kept, transformation="filter", source=f"filter of {parent.ref}",
        parents=[parent], params={"drop_format_issues": drop_format_issues, "require_columns": require_columns or []},
        stats={"removed": int((~keep).sum()), **reasons})
    return TransformResult([parent], [version], int((~keep).sum()), {"reasons": reasons})


def split_version(store: Store, *, actor: Actor, ref: str, eval_share: float = 0.1, seed: int = 0,
                  train_name: str | None = None, eval_name: str | None = None) -> TransformResult:
    """A seeded random train/evaluation split into two datasets (default NAME-train and NAME-eval)."""
    if not 0 < eval_share < 1:
        raise InvalidInput("The evaluation share must be between 0 and 1 (e.g. 0.1 for 10%).")
    parent, frame = _load(store, actor, ref)
    if len(frame) < 2:
        raise InvalidInput(f"{parent.ref} has {len(frame)} row(s); a split needs at least 2.")
    order = np.random.default_rng(seed).permutation(len(frame))
    n_eval = min(max(1, int(round(len(frame) * eval_share))), len(frame) - 1)
    eval_rows, train_rows = np.sort(order[:n_eval]), np.sort(order[n_eval:])
    params = {"eval_share": eval_share, "seed": seed, "of": parent.ref}
    made = []
    for name, rows, part in ((train_name or f"{parent.dataset}-train", train_rows, "train"),
                             (eval_name or f"{parent.dataset}-eval", eval_rows, "eval")):
        version, _ = versions.save_version(
            store, actor=actor, name=name, frame=frame.iloc[rows].reset_index(drop=True), transformation="split",
            source=f"{part} split of {parent.ref}", parents=[parent], params={**params, "part": part})
        made.append(version)
    return TransformResult([parent], made, 0, {})


def merge_versions(store: Store, *, actor: Actor, refs: list[str], name: str) -> TransformResult:
    """Stacks versions into one; columns missing from one side are left empty."""
    if len(refs) < 2:
        raise InvalidInput("Merging needs at least two dataset versions.")
    loaded = [_load(store, actor, ref) for ref in refs]
    merged = pd.concat([frame for _, frame in loaded], ignore_index=True, sort=False)
    parents = [version for version, _ in loaded]
    version, _ = versions.save_version(store, actor=actor, name=name, frame=merged, transformation="merge",
                                       source="merge of " + ", ".join(p.ref for p in parents), parents=parents,
                                       params={"refs": [p.ref for p in parents]})
    return TransformResult(parents, [version], 0, {})
