"""Dedupe, filter, split and merge: new versions with lineage, parents untouched."""
import pandas as pd
import pytest

from core.data import transform, versions
from core.errors import InvalidInput, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role

GOOD = [{"role": "user", "content": "How do I reset my password?"},
        {"role": "assistant", "content": "Use the link on the login page."}]


def _save(store, name, frame):
    return versions.save_version(store, actor=SYSTEM, name=name, frame=frame, transformation="import", source="t")[0]


def test_dedupe_keeps_the_first_of_exact_and_near_copies(store):
    texts = ["Where is my parcel? It was due on Monday and has not arrived yet, please check the tracking.",
             "where is my parcel?  It was due on Monday and has not arrived yet, please check the tracking.",
             "Where is my parcel? It was due on Tuesday and has not arrived yet, please check the tracking.",
             "How can I change the billing address on my next invoice?"]
    _save(store, "tickets", pd.DataFrame({"body": texts, "id": [1, 2, 3, 4]}))
    exact = transform.dedupe_version(store, actor=SYSTEM, ref="tickets", column="body")
    assert exact.versions[0].rows == 3 and exact.removed == 1
    near = transform.dedupe_version(store, actor=SYSTEM, ref="tickets@1", column="body", near=True, threshold=0.6)
    rows = versions.load_frame(store, actor=SYSTEM, version=near.versions[0])
    assert rows["id"].tolist() == [1, 4]
    assert near.versions[0].parents == ["tickets@1"] and near.versions[0].stats == {"removed_exact": 1, "removed_near": 1}


def test_filter_drops_rows_that_break_the_format(store):
    _save(store, "chat", pd.DataFrame({"messages": [GOOD, GOOD[:1], GOOD], "n": [1, 2, 3]}))
    result = transform.filter_version(store, actor=SYSTEM, ref="chat")
    rows = versions.load_frame(store, actor=SYSTEM, version=result.versions[0])
    assert rows["n"].tolist() == [1, 3] and result.removed == 1
    assert result.versions[0].stats["format_issues"] == 1
    with pytest.raises(InvalidInput, match="no fine-tuning format"):
        _save(store, "plain", pd.DataFrame({"text": ["a"]}))
        transform.filter_version(store, actor=SYSTEM, ref="plain")


def test_split_is_seeded_disjoint_and_complete(store):
    _save(store, "qa", pd.DataFrame({"prompt": [f"q{i}" for i in range(50)], "completion": ["a"] * 50}))
    first = transform.split_version(store, actor=SYSTEM, ref="qa", eval_share=0.2, seed=3)
    train, evaluation = first.versions
    assert (train.ref, evaluation.ref, train.rows, evaluation.rows) == ("qa-train@1", "qa-eval@1", 40, 10)
    a = set(versions.load_frame(store, actor=SYSTEM, version=train)["prompt"])
    b = set(versions.load_frame(store, actor=SYSTEM, version=evaluation)["prompt"])
    assert not a & b and len(a | b) == 50
    again = transform.split_version(store, actor=SYSTEM, ref="qa", eval_share=0.2, seed=3)
    assert [v.ref for v in again.versions] == ["qa-train@1", "qa-eval@1"]  # same seed, same content: no new versions
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        transform.split_version(store, actor=SYSTEM, ref="qa", eval_share=1.5)


def test_merge_stacks_versions_and_records_both_parents(store):
    _save(store, "a", pd.DataFrame({"prompt": ["x"], "completion": ["y"]}))
    _save(store, "b", pd.DataFrame({"prompt": ["z"], "completion": ["w"], "source": ["web"]}))
    result = transform.merge_versions(store, actor=SYSTEM, refs=["a", "b@1"], name="ab")
    merged = versions.load_frame(store, actor=SYSTEM, version=result.versions[0])
    assert merged["prompt"].tolist() == ["x", "z"] and pd.isna(merged["source"][0])
    assert sorted(result.versions[0].parents) == ["a@1", "b@1"]


def test_transformations_need_the_right_to_change_data(store):
    _save(store, "qa", pd.DataFrame({"prompt": ["q", "r"], "completion": ["a", "b"]}))
    with pytest.raises(PermissionDenied):
        transform.split_version(store, actor=Actor("vic", Role.VIEWER), ref="qa")
