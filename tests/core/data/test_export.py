"""Exports: formulas neutralised for spreadsheets, structure kept in JSONL, re-import gives the same rows back."""
import csv
import json

import pandas as pd
import pytest

from core.data import export, ingest, versions
from core.errors import InvalidInput, PermissionDenied
from core.governance import audit
from core.governance.roles import SYSTEM, Actor, Role

RISKY = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2", "@SUM(A1)", "\tindented", "'quoted", "plain text"]


@pytest.fixture
def risky_version(store):
    frame = pd.DataFrame({"text": RISKY, "n": range(len(RISKY)),
                          "messages": [[{"role": "user", "content": "=1+1"}]] * len(RISKY)})
    version, _ = versions.save_version(store, actor=SYSTEM, name="risky", frame=frame, transformation="import", source="t")
    return version


def test_csv_export_neutralises_formulas_and_reimport_restores_them(store, risky_version, tmp_path):
    out = tmp_path / "risky.csv"
    result = export.export_version(store, actor=SYSTEM, ref="risky", fmt="csv", out=out)
    assert result.rows == len(RISKY)
    with open(out, newline="", encoding="utf-8") as handle:
        cells = [row["text"] for row in csv.DictReader(handle)]
    assert all(not c.startswith(("=", "+", "-", "@", "\t")) for c in cells)
    again = ingest.import_file(store, actor=SYSTEM, path=out, name="risky-again")
    back = versions.load_frame(store, actor=SYSTEM, version=again.version)
    assert back["text"].tolist() == RISKY


def test_jsonl_export_keeps_nested_messages_and_raw_text(store, risky_version, tmp_path):
    out = tmp_path / "risky.jsonl"
    export.export_version(store, actor=SYSTEM, ref="risky@1", fmt="jsonl", out=out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["text"] == RISKY[0]
    assert rows[0]["messages"] == [{"role": "user", "content": "=1+1"}]


def test_xlsx_and_parquet_round_trip(store, risky_version, tmp_path):
    for fmt in ("xlsx", "parquet"):
        out = tmp_path / f"risky.{fmt}"
        export.export_version(store, actor=SYSTEM, ref="risky", fmt=fmt, out=out)
        again = ingest.import_file(store, actor=SYSTEM, path=out, name=f"back-{fmt}")
        assert versions.load_frame(store, actor=SYSTEM, version=again.version)["text"].tolist() == RISKY
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "risky.xlsx").active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_export_is_audited_and_refused_to_viewers_and_annotators(store, risky_version, tmp_path):
    export.export_version(store, actor=SYSTEM, ref="risky", fmt="csv", out=tmp_path / "a.csv")
    assert audit.list_events(store, actor=SYSTEM)[0].action == "dataset.export"
    for role in (Role.VIEWER, Role.ANNOTATOR):
        with pytest.raises(PermissionDenied):
            export.export_version(store, actor=Actor("x", role), ref="risky", fmt="csv", out=tmp_path / "b.csv")
    assert not (tmp_path / "b.csv").exists()


def test_bad_export_requests_are_sentences(store, risky_version, tmp_path):
    with pytest.raises(InvalidInput, match="not an export format"):
        export.export_version(store, actor=SYSTEM, ref="risky", fmt="pdf", out=tmp_path / "x.pdf")
    with pytest.raises(InvalidInput, match="does not exist"):
        export.export_version(store, actor=SYSTEM, ref="risky", fmt="csv", out=tmp_path / "nope" / "x.csv")
