"""Dataset versions: content-addressed, immutable, with provenance and lineage."""
import pandas as pd
import pytest

from core.data import versions
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.governance import audit
from core.governance.roles import SYSTEM, Actor, Role


def _frame(n=3, offset=0):
    return pd.DataFrame({"prompt": [f"question {i + offset}" for i in range(n)],
                         "completion": [f"answer {i + offset}" for i in range(n)]})


@pytest.mark.postgres
def test_versions_number_up_and_identical_content_is_not_stored_twice(any_store):
    first, created = versions.save_version(any_store, actor=SYSTEM, name="qa", frame=_frame(), transformation="import",
                                           source="qa.csv")
    assert created and first.ref == "qa@1" and first.rows == 3
    again, created = versions.save_version(any_store, actor=SYSTEM, name="qa", frame=_frame(), transformation="import",
                                           source="qa-copy.csv")
    assert not created and again.ref == "qa@1"
    second, created = versions.save_version(any_store, actor=SYSTEM, name="qa", frame=_frame(4), transformation="import",
                                            source="qa.csv")
    assert created and second.ref == "qa@2"
    assert versions.get_version(any_store, actor=SYSTEM, ref="qa").ref == "qa@2"
    assert versions.get_version(any_store, actor=SYSTEM, ref="qa@1").sha256 == first.sha256
    objects = list((any_store.settings.datasets_dir / "objects").rglob("*.parquet"))
    assert len(objects) == 2


def test_the_same_content_in_two_datasets_shares_one_file(store):
    a, _ = versions.save_version(store, actor=SYSTEM, name="a", frame=_frame(), transformation="import", source="x")
    b, _ = versions.save_version(store, actor=SYSTEM, name="b", frame=_frame(), transformation="import", source="x")
    assert a.sha256 == b.sha256
    assert len(list((store.settings.datasets_dir / "objects").rglob("*.parquet"))) == 1


def test_rows_come_back_exactly_with_nested_values(store):
    frame = pd.DataFrame({"messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]],
                          "n": [1]})
    version, _ = versions.save_version(store, actor=SYSTEM, name="chat", frame=frame, transformation="import", source="c")
    back = versions.load_frame(store, actor=SYSTEM, version=version)
    assert [dict(m) for m in back["messages"][0]] == frame["messages"][0]


def test_lineage_walks_ancestors_and_descendants(store):
    root, _ = versions.save_version(store, actor=SYSTEM, name="raw", frame=_frame(), transformation="import", source="f")
    clean, _ = versions.save_version(store, actor=SYSTEM, name="raw", frame=_frame(3, 10), transformation="redact",
                                     source="redaction of raw@1", parents=[root])
    other, _ = versions.save_version(store, actor=SYSTEM, name="extra", frame=_frame(2, 50), transformation="import", source="g")
    merged, _ = versions.save_version(store, actor=SYSTEM, name="mix", frame=_frame(5, 99), transformation="merge",
                                      source="merge", parents=[clean, other])
    assert sorted(merged.parents) == ["extra@1", "raw@2"]
    down = versions.lineage(store, actor=SYSTEM, ref="raw@1")
    assert set(down.descendants) == {("raw@1", "raw@2"), ("raw@2", "mix@1")}
    up = versions.lineage(store, actor=SYSTEM, ref="mix@1")
    assert set(up.ancestors) == {("raw@2", "mix@1"), ("extra@1", "mix@1"), ("raw@1", "raw@2")}


def test_every_new_version_is_audited_with_its_provenance(store):
    versions.save_version(store, actor=SYSTEM, name="qa", frame=_frame(), transformation="import", source="qa.csv")
    event = next(e for e in audit.list_events(store, actor=SYSTEM) if e.action == "dataset.import")
    assert event.target_id == "qa@1" and event.after["rows"] == 3 and event.detail == "qa.csv"


def test_who_may_see_what(store):
    versions.save_version(store, actor=SYSTEM, name="qa", frame=_frame(), transformation="import", source="qa.csv")
    viewer, annotator = Actor("vic", Role.VIEWER), Actor("ann", Role.ANNOTATOR)
    version = versions.get_version(store, actor=viewer, ref="qa")  # managers see that it exists and its size
    with pytest.raises(PermissionDenied):
        versions.load_frame(store, actor=viewer, version=version)  # but never its rows
    with pytest.raises(PermissionDenied):
        versions.list_datasets(store, actor=annotator)
    with pytest.raises(PermissionDenied):
        versions.save_version(store, actor=viewer, name="x", frame=_frame(), transformation="import", source="x")


@pytest.mark.parametrize("ref,error,message", [
    ("nope", NotFound, "no dataset named 'nope'"), ("qa@9", NotFound, "no version 9"),
    ("qa@x", InvalidInput, "NAME@N"), ("qa@0", InvalidInput, "NAME@N"),
])
def test_bad_references_are_one_sentence(store, ref, error, message):
    versions.save_version(store, actor=SYSTEM, name="qa", frame=_frame(), transformation="import", source="qa.csv")
    with pytest.raises(error, match=message):
        versions.get_version(store, actor=SYSTEM, ref=ref)


@pytest.mark.parametrize("name", ["", "has space", "../etc", "a/b", "-x"])
def test_bad_dataset_names_are_refused(store, name):
    with pytest.raises(InvalidInput, match="not a valid dataset name"):
        versions.save_version(store, actor=SYSTEM, name=name, frame=_frame(), transformation="import", source="f")


@pytest.fixture
def grouped(store, monkeypatch):
    """A 1,000-row version written in row groups of 128 rows, as a large version is (65,536 rows a group)."""
    monkeypatch.setattr(versions, "ROW_GROUP_ROWS", 128)
    frame = pd.DataFrame({"n": range(1000), "text": [f"row {i}" for i in range(1000)],
                          "tags": [[f"t{i}", "x"] for i in range(1000)]})
    version, _ = versions.save_version(store, actor=SYSTEM, name="big", frame=frame, transformation="import",
                                       source="big.parquet")
    return version, frame


def test_the_head_and_one_row_are_read_from_their_row_groups(store, grouped):
    import pyarrow.parquet as pq

    version, frame = grouped
    path = versions.object_path(store.settings.datasets_dir, version.sha256)
    assert pq.ParquetFile(path).num_row_groups == 8
    for rows in (0, 5, 128, 300, 1000, 5000):
        head = versions.read_head(store, actor=SYSTEM, version=version, rows=rows)
        assert list(head.columns) == ["n", "text", "tags"]
        pd.testing.assert_frame_equal(head.drop(columns="tags"), frame.head(rows).drop(columns="tags"))
        assert [list(t) for t in head["tags"]] == frame["tags"].head(rows).tolist()
    for index in (0, 127, 128, 555, 999):
        row = versions.read_row(store, actor=SYSTEM, version=version, index=index)
        assert row["n"] == index and row["text"] == f"row {index}" and list(row["tags"]) == [f"t{index}", "x"]


def test_row_reads_refuse_rows_that_do_not_exist_and_roles_that_may_not_see_rows(store, grouped):
    version, _ = grouped
    for index in (-1, 1000):
        with pytest.raises(InvalidInput, match="has 1,000 rows"):
            versions.read_row(store, actor=SYSTEM, version=version, index=index)
    viewer = Actor("vic", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        versions.read_head(store, actor=viewer, version=version)
    with pytest.raises(PermissionDenied):
        versions.read_row(store, actor=viewer, version=version, index=0)


def test_listings_take_the_same_few_queries_for_one_dataset_or_many(store):
    from sqlalchemy import event

    def queries(call) -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - the statement
        event.listen(store.engine, "before_cursor_execute", listener)
        try:
            call()
        finally:
            event.remove(store.engine, "before_cursor_execute", listener)
        return len(seen)

    versions.save_version(store, actor=SYSTEM, name="a", frame=_frame(), transformation="import", source="x")
    one = queries(lambda: versions.list_datasets(store, actor=SYSTEM))
    one_version = queries(lambda: versions.list_versions(store, actor=SYSTEM, name="a"))
    parent = versions.get_version(store, actor=SYSTEM, ref="a")
    for n in range(1, 6):
        versions.save_version(store, actor=SYSTEM, name=f"d{n}", frame=_frame(offset=n), transformation="import",
                              source="x")
        versions.save_version(store, actor=SYSTEM, name="a", frame=_frame(offset=10 * n), transformation="filter",
                              source="x", parents=[parent])
    assert queries(lambda: versions.list_datasets(store, actor=SYSTEM)) == one
    assert queries(lambda: versions.list_versions(store, actor=SYSTEM, name="a")) == one_version
    listed = versions.list_datasets(store, actor=SYSTEM)
    assert [(d.name, d.versions, d.latest.ref, d.latest.parents) for d in listed][:2] == \
        [("a", 6, "a@6", ["a@1"]), ("d1", 1, "d1@1", [])]
    assert [v.ref for v in versions.list_versions(store, actor=SYSTEM, name="a")] == [f"a@{n}" for n in range(6, 0, -1)]
