"""Importing files: the version and provenance it makes, and nothing at all from a bad file."""
import pytest
from sqlmodel import func, select

from core.data import ingest, versions
from core.errors import DataError, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role
from core.storage.tables import Dataset, DatasetVersion


def _count(store, table):
    with store.read() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_an_import_records_where_the_version_came_from(store, tmp_path):
    source = tmp_path / "tickets.csv"
    source.write_text("id,body\n1,Printer on fire\n2,Cannot log in\n", encoding="utf-8")
    result = ingest.import_file(store, actor=SYSTEM, path=source, name="tickets")
    info = result.to_dict()
    assert info["dataset"] == "tickets" and info["version"] == 1 and info["rows"] == 2
    assert info["columns"] == ["id", "body"] and len(info["sha256"]) == 64
    version = versions.get_version(store, actor=SYSTEM, ref="tickets@1")
    assert version.source == "tickets.csv" and version.transformation == "import" and version.created_by == "system"
    assert version.source_sha256 == ingest.file_sha256(source)


def test_reimporting_identical_content_makes_no_new_version(store, tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_text('{"prompt": "p", "completion": "c"}\n')
    ingest.import_file(store, actor=SYSTEM, path=source, name="pc")
    again = ingest.import_file(store, actor=SYSTEM, path=source, name="pc")
    assert not again.created and again.version.version == 1
    assert _count(store, DatasetVersion) == 1


def test_a_bad_file_stores_nothing(store, tmp_path):
    source = tmp_path / "broken.csv"
    source.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match="broken.csv"):
        ingest.import_file(store, actor=SYSTEM, path=source, name="broken")
    assert _count(store, Dataset) == 0 and _count(store, DatasetVersion) == 0
    assert not list((store.settings.datasets_dir).rglob("*.parquet"))


def test_skipped_rows_are_reported_and_recorded(store, tmp_path):
    source = tmp_path / "ragged.csv"
    source.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    result = ingest.import_file(store, actor=SYSTEM, path=source, name="ragged", skip_bad_rows=True)
    assert result.version.rows == 2
    assert [s.line for s in result.skipped] == [3]
    assert result.version.stats["skipped_rows"] == 1


def test_the_display_name_is_what_messages_name(store, tmp_path):
    source = tmp_path / "upload-x1y2.csv"
    source.write_bytes(b"")
    with pytest.raises(DataError, match="my data.csv"):
        ingest.import_file(store, actor=SYSTEM, path=source, name="x", display_name="my data.csv")


def test_only_admins_and_data_scientists_import(store, tmp_path):
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    for role in (Role.ANNOTATOR, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            ingest.import_file(store, actor=Actor("x", role), path=source, name="a")
    ingest.import_file(store, actor=Actor("dan", Role.DATA_SCIENTIST), path=source, name="a")
