"""Atomic writes: the target holds the old content or the new, never a part, and no temporary file stays."""
import pytest

from core.files import atomic_path, write_atomically


def test_a_write_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_atomically(target, '{"new": true}')
    assert target.read_text() == '{"new": true}'
    write_atomically(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_part_written(tmp_path):
    target = tmp_path / "export.csv"
    target.write_text("old,content\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target, suffix=".csv") as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".csv")
            tmp.write_text("half a fi")
            raise RuntimeError("disk full")
    assert target.read_text() == "old,content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]
