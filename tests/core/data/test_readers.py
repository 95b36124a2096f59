"""read_table: every format from real files, and every bad file as one DataError sentence naming the file."""
from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data.readers import FORMATS, ReadResult, SkippedRow, read_table
from core.errors import DataError, InvalidInput
from core.exports import neutralise_cell


def write(tmp_path, name, content) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def parquet_ok(frame: pd.DataFrame) -> None:
    """What the caller stores: the frame goes to Parquet as it is."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert len(pd.read_parquet(io.BytesIO(buffer.getvalue()))) == len(frame)


def fails(path, match: str | None = None, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)
    message = info.value.message
    if match is not None:
        assert match in message, message
    return message


def xlsx(path, sheets: dict[str, list[list]]) -> str:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return str(path)


# --- CSV and TSV -------------------------------------------------------------------------------------------------

def test_csv_reads_typed_columns_and_keeps_zip_codes_as_text(tmp_path):
    path = write(tmp_path, "tickets.csv",
                 "id,zip,score,urgent,subject,when\n"
                 "1,00123,1.5,true,Printer on fire,2024-01-02T10:00:00\n"
                 "2,98101,,FALSE,\"Hello, world\",2024-01-03T11:00:00\n"
                 "3,02139,-2.25,true,,2024-01-04T12:00:00\n")
    result = read_table(path)
    frame = result.frame
    assert isinstance(result, ReadResult)
    assert (result.format, result.encoding, result.delimiter, result.skipped) == ("csv", "utf-8", ",", [])
    assert list(frame.columns) == ["id", "zip", "score", "urgent", "subject", "when"]
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
    assert frame["id"].tolist() == [1, 2, 3] and str(frame["id"].dtype) == "int64"
    assert frame["zip"].tolist() == ["00123", "98101", "02139"]          # leading zeros: text
    assert frame["score"].dtype == "float64" and pd.isna(frame["score"][1]) and frame["score"][2] == -2.25
    assert frame["urgent"].tolist() == [True, False, True]
    assert frame["subject"][1] == "Hello, world"
    assert pd.isna(frame["subject"][2])                                    # empty field: missing, not ""
    assert frame["when"][0] == "2024-01-02T10:00:00"
    parquet_ok(frame)
    assert set(FORMATS) == {"csv", "tsv", "jsonl", "json", "parquet", "xlsx"}


def test_integer_columns_with_gaps_stay_integers_and_phone_numbers_stay_text(tmp_path):
    path = write(tmp_path, "people.csv", "n,phone,big\n1,+4412345,123456789012345678\n,+4467890,1\n")
    frame = read_table(path).frame
    assert str(frame["n"].dtype) == "Int64" and frame["n"][0] == 1 and pd.isna(frame["n"][1])
    assert frame["phone"].tolist() == ["+4412345", "+4467890"]
    assert frame["big"][0] == 123456789012345678
    parquet_ok(frame)


def test_utf8_with_bom(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeffname,city\nJosé,Zürich\n".encode("utf-8"))
    result = read_table(path)
    assert result.encoding == "utf-8-sig"
    assert list(result.frame.columns) == ["name", "city"]
    assert result.frame["city"][0] == "Zürich"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_little_and_big_endian(tmp_path, codec):
    text = "name,note\nJosé,déjà vu €\nZoë,naïve\n"
    data = text.encode(codec)
    if codec != "utf-16":
        data = ("\ufeff" + text).encode(codec)          # a BOM in the byte order of the codec
    result = read_table(write(tmp_path, "wide.csv", data))
    assert result.encoding == "utf-16"
    assert result.frame["note"].tolist() == ["déjà vu €", "naïve"]


def test_cp1252_with_accents_and_euro(tmp_path):
    path = write(tmp_path, "legacy.csv", "name,price,note\nRenée,5,Café €5\nJosé,7,Ça coûte 7 €\n".encode("cp1252"))
    result = read_table(path)
    assert result.encoding == "cp1252"
    assert result.frame["note"].tolist() == ["Café €5", "Ça coûte 7 €"]
    assert result.frame["name"][0] == "Renée"
    assert any("cp1252" in note for note in result.notes)


def test_utf16_without_bom_and_a_cyrillic_legacy_encoding(tmp_path):
    wide = read_table(write(tmp_path, "nobom.csv", "a,b\n1,Zoë\n".encode("utf-16-le")))
    assert wide.encoding == "utf-16-le" and wide.frame["b"].tolist() == ["Zoë"]
    rows = "".join(f"{i},Иван Петров {i},Москва\n" for i in range(30))
    cyrillic = read_table(write(tmp_path, "ru.csv", ("id,name,city\n" + rows).encode("cp1251")))
    assert cyrillic.encoding == "cp1251" and cyrillic.frame["city"][0] == "Москва"
    assert any("cp1251" in note for note in cyrillic.notes)


def test_semicolon_delimiter_keeps_decimal_commas_as_text(tmp_path):
    path = write(tmp_path, "eu.csv", "name;amount;city\nAnna;3,50;Köln\nBen;12,00;Wien, Innere Stadt\n")
    result = read_table(path)
    assert result.delimiter == ";" and result.format == "csv"
    assert result.frame["amount"].tolist() == ["3,50", "12,00"]
    assert result.frame["city"][1] == "Wien, Innere Stadt"


def test_tsv_and_pipe_delimited(tmp_path):
    tsv = read_table(write(tmp_path, "data.tsv", "a\tb\n1\thello, there\n2\tx;y\n"))
    assert (tsv.format, tsv.delimiter) == ("tsv", "\t")
    assert tsv.frame["b"].tolist() == ["hello, there", "x;y"]
    piped = read_table(write(tmp_path, "data.txt", "a|b\n1|x, y\n2|z\n"))
    assert (piped.format, piped.delimiter) == ("csv", "|")
    assert piped.frame["b"].tolist() == ["x, y", "z"]


def test_quoted_newlines_crlf_and_doubled_quotes(tmp_path):
    path = write(tmp_path, "notes.csv",
                 'id,text\r\n1,"first line\r\nsecond line"\r\n2,"she said ""hi"""\r\n3,plain\r\n')
    frame = read_table(path).frame
    assert frame["text"].tolist() == ["first line\r\nsecond line", 'she said "hi"', "plain"]
    assert frame["id"].tolist() == [1, 2, 3]


def test_file_without_extension_is_read_by_content(tmp_path):
    result = read_table(write(tmp_path, "upload", "a,b\n1,2\n"))
    assert result.format == "csv" and result.frame["b"].tolist() == [2]


def test_display_name_is_used_in_messages_and_for_the_extension(tmp_path):
    path = write(tmp_path, "tmp123", "a,b\n1,2,3\n")
    message = fails(path, display_name="tickets.csv")
    assert message == "tickets.csv, line 2: expected 2 fields but found 3."


def test_single_column_csv(tmp_path):
    frame = read_table(write(tmp_path, "one.csv", "prompt\nHello there\nWhat is 2+2?\n")).frame
    assert frame["prompt"].tolist() == ["Hello there", "What is 2+2?"]


def test_exported_formula_cells_are_restored(tmp_path):
    originals = ["=SUM(A1:A2)", "+1", "-2 apples", "@mention", "'quoted", "plain"]
    lines = ["id,text"] + [f"{i},{neutralise_cell(v)}" for i, v in enumerate(originals)]
    frame = read_table(write(tmp_path, "export.csv", "\n".join(lines) + "\n")).frame
    assert frame["text"].tolist() == originals


def test_empty_rows_and_unnamed_empty_columns_are_dropped_with_a_note(tmp_path):
    result = read_table(write(tmp_path, "excel.csv", "a,b,\n1,x,\n,,\n2,y,\n,,\n"))
    assert list(result.frame.columns) == ["a", "b"]
    assert result.frame["a"].tolist() == [1, 2]
    assert any("unnamed empty column" in n for n in result.notes)
    assert any("Dropped 2 empty rows" in n for n in result.notes)


def test_column_names_are_stripped(tmp_path):
    frame = read_table(write(tmp_path, "spaces.csv", " id , name \n1,a\n")).frame
    assert list(frame.columns) == ["id", "name"]


def test_ascii_start_then_cp1252_after_the_sample_falls_back_to_cp1252(tmp_path):
    rows = "".join(f"{i},plain ascii text number {i}\n" for i in range(40_000))       # > 1 MB of ASCII
    data = ("id,text\n" + rows).encode("ascii") + "40000,Café\n".encode("cp1252")
    result = read_table(write(tmp_path, "late.csv", data))
    assert result.encoding == "cp1252"
    assert result.frame["text"].iloc[-1] == "Café"
    assert any("cp1252" in n for n in result.notes)


def test_utf8_file_with_a_bad_byte_later_names_the_line(tmp_path):
    data = "id,text\n1,Zürich\n2,ok\n".encode("utf-8") + b"3,caf\xe9\n"
    assert fails(write(tmp_path, "mixed.csv", data)).startswith("mixed.csv, line 4: the text is not valid UTF-8")


# --- ragged rows ---------------------------------------------------------------------------------------------------

RAGGED = 'id,name,score\n1,a,10\n2,"multi\nline",20\n3,b\n4,c,40,extra\n5,d,50\n'


def test_ragged_row_names_the_first_bad_physical_line(tmp_path):
    message = fails(write(tmp_path, "tickets.csv", RAGGED))
    assert message == "tickets.csv, line 5: expected 3 fields but found 2."


def test_too_many_fields(tmp_path):
    text = "a,b,c,d,e\n" + "1,2,3,4,5\n" * 12 + "1,2,3,4,5,6,7\n"
    assert fails(write(tmp_path, "tickets.csv", text)) == "tickets.csv, line 14: expected 5 fields but found 7."


def test_skip_bad_rows_lists_each_skipped_line(tmp_path):
    result = read_table(write(tmp_path, "tickets.csv", RAGGED), skip_bad_rows=True)
    assert result.frame["id"].tolist() == [1, 2, 5]
    assert result.frame["name"][1] == "multi\nline"
    assert result.skipped == [SkippedRow(5, "Expected 3 fields but found 2."),
                              SkippedRow(6, "Expected 3 fields but found 4.")]
    assert any("Skipped 2 bad rows" in n for n in result.notes)


def test_unclosed_quote_names_the_line_where_it_opens(tmp_path):
    path = write(tmp_path, "open.csv", 'id,text\n1,fine\n2,"never closed\n3,more\n4,text\n')
    assert fails(path) == "open.csv, line 3: a quoted field opens here but its closing quote is missing."


# --- JSON Lines and JSON -------------------------------------------------------------------------------------------

CHAT = [
    {"id": 1, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
     "meta": {"source": "web"}},
    {"id": 2, "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
     "score": 0.5},
]


def test_jsonl_keeps_nested_messages_as_lists_of_dicts(tmp_path):
    text = "\n".join(json.dumps(r) for r in CHAT[:1]) + "\n\n" + json.dumps(CHAT[1]) + "\n"
    result = read_table(write(tmp_path, "chat.jsonl", text))
    frame = result.frame
    assert (result.format, result.encoding, result.delimiter) == ("jsonl", "utf-8", None)
    assert list(frame.columns) == ["id", "messages", "meta", "score"]
    assert frame["messages"][0] == CHAT[0]["messages"]
    assert isinstance(frame["messages"][0], list) and isinstance(frame["messages"][0][0], dict)
    assert frame["meta"][0] == {"source": "web"} and pd.isna(frame["meta"][1])      # missing key: NA
    assert pd.isna(frame["score"][0]) and frame["score"][1] == 0.5
    assert frame["id"].tolist() == [1, 2]
    parquet_ok(frame)


def test_jsonl_mixed_scalars_become_text_and_gaps_keep_integers(tmp_path):
    lines = [{"id": 1, "label": 3, "n": 1}, {"id": 2, "label": "three"}, {"id": 3, "label": True, "n": 5}]
    result = read_table(write(tmp_path, "mixed.jsonl", "\n".join(json.dumps(x) for x in lines)))
    frame = result.frame
    assert frame["label"].tolist() == ["3", "three", "true"]
    assert any("'label'" in n for n in result.notes)
    assert str(frame["n"].dtype) == "Int64" and pd.isna(frame["n"][1])
    parquet_ok(frame)


def test_nested_values_parquet_cannot_store_become_json_text_with_a_note(tmp_path):
    lines = [{"messages": [{"role": "user", "content": "hi"}]},
             {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
             {"messages": "plain"}]
    result = read_table(write(tmp_path, "odd.jsonl", "\n".join(json.dumps(x) for x in lines)))
    frame = result.frame
    assert json.loads(frame["messages"][0]) == lines[0]["messages"]
    assert frame["messages"][2] == "plain"
    assert any("JSON text" in n for n in result.notes)
    parquet_ok(frame)


def test_jsonl_invalid_line_and_non_object_line(tmp_path):
    text = '{"a": 1}\n\n{"a": 2,\n{"a": 3}\n'
    assert fails(write(tmp_path, "bad.jsonl", text)).startswith("bad.jsonl, line 3: this line is not valid JSON")
    assert fails(write(tmp_path, "list.jsonl", '{"a": 1}\n[1, 2]\n')) == (
        "list.jsonl, line 2: expected a JSON object but found a list.")


def test_jsonl_skip_bad_rows(tmp_path):
    text = '{"a": 1}\nnot json\n{"a": 3}\n42\n'
    result = read_table(write(tmp_path, "bad.jsonl", text), skip_bad_rows=True)
    assert result.frame["a"].tolist() == [1, 3]
    assert [s.line for s in result.skipped] == [2, 4]
    assert "not valid JSON" in result.skipped[0].reason and "a number" in result.skipped[1].reason


def test_json_array_and_wrapper_object(tmp_path):
    array = read_table(write(tmp_path, "rows.json", json.dumps(CHAT, indent=2)))
    assert array.format == "json" and array.frame["messages"][1] == CHAT[1]["messages"]
    wrapped = read_table(write(tmp_path, "wrapped.json", json.dumps({"version": 2, "data": CHAT})))
    assert wrapped.format == "json" and wrapped.frame["id"].tolist() == [1, 2]
    assert any("'data'" in n for n in wrapped.notes)
    one_chat = read_table(write(tmp_path, "chat.json", json.dumps(CHAT[0])))
    assert one_chat.format == "jsonl" and one_chat.frame["messages"][0] == CHAT[0]["messages"]
    fails(write(tmp_path, "pretty.json", json.dumps(CHAT[0], indent=2)), "pretty.json holds a JSON object, not a list")
    lines_in_json = read_table(write(tmp_path, "lines.json", "\n".join(json.dumps(r) for r in CHAT)))
    assert lines_in_json.format == "jsonl" and len(lines_in_json.frame) == 2


def test_json_that_is_not_records(tmp_path):
    fails(write(tmp_path, "scalar.json", "42"), "scalar.json holds a number, not an array of objects.")
    fails(write(tmp_path, "obj.json", '{\n "a": 1,\n "b": 2\n}'), "obj.json holds a JSON object, not a list")
    fails(write(tmp_path, "items.json", '[{"a": 1}, 5]'), "items.json: item 2 of the array is a number")
    assert fails(write(tmp_path, "broken.json", '[\n{"a": 1},\n{"a": 2\n]')).startswith("broken.json, line 4:")
    fails(write(tmp_path, "empty.json", "[]"), "empty.json has no records")
    skipped = read_table(write(tmp_path, "items2.json", '[{"a": 1}, 5, {"a": 3}]'), skip_bad_rows=True)
    assert skipped.frame["a"].tolist() == [1, 3] and skipped.skipped[0].line == 2


# --- Parquet -------------------------------------------------------------------------------------------------------

def test_parquet_round_trip_with_nested_values(tmp_path):
    original = pd.DataFrame({"id": [1, 2], "text": ["a", None],
                             "messages": [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "yo"}]]})
    path = tmp_path / "data.parquet"
    original.to_parquet(path)
    result = read_table(path)
    assert (result.format, result.encoding, result.delimiter) == ("parquet", None, None)
    assert result.frame["id"].tolist() == [1, 2]
    assert result.frame["text"][0] == "a" and pd.isna(result.frame["text"][1])
    assert result.frame["messages"][0] == [{"role": "user", "content": "hi"}]        # lists, not NumPy arrays
    parquet_ok(result.frame)


def test_parquet_with_named_index_keeps_it_as_a_column(tmp_path):
    path = tmp_path / "indexed.parquet"
    pd.DataFrame({"v": [1, 2]}, index=pd.Index(["x", "y"], name="key")).to_parquet(path)
    frame = read_table(path).frame
    assert list(frame.columns) == ["key", "v"] and isinstance(frame.index, pd.RangeIndex)


def test_truncated_and_empty_parquet(tmp_path):
    path = tmp_path / "good.parquet"
    pd.DataFrame({"a": range(100)}).to_parquet(path)
    data = path.read_bytes()
    fails(write(tmp_path, "cut.parquet", data[: len(data) // 2]), "cut.parquet is not a readable Parquet file")
    empty = tmp_path / "none.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), empty)
    fails(empty, "none.parquet has columns but no rows.")


# --- Excel ---------------------------------------------------------------------------------------------------------

def test_xlsx_first_sheet_with_note_and_sheet_by_name(tmp_path):
    path = xlsx(tmp_path / "book.xlsx", {
        "Tickets": [["id", "zip", "subject", "score"], [1, "00123", neutralise_cell("=cmd|' /C calc'!A0"), 1.5],
                    [2, "98101", "ok", None]],
        "Users": [["name"], ["ann"]],
    })
    result = read_table(path)
    frame = result.frame
    assert (result.format, result.encoding, result.delimiter) == ("xlsx", None, None)
    assert "Read sheet 'Tickets' of 2." in result.notes
    assert frame["id"].tolist() == [1, 2] and frame["zip"].tolist() == ["00123", "98101"]
    assert frame["subject"][0] == "=cmd|' /C calc'!A0"                      # neutralised export restored
    assert pd.isna(frame["score"][1])
    parquet_ok(frame)
    users = read_table(path, sheet="Users")
    assert users.frame["name"].tolist() == ["ann"] and not users.notes
    fails(path, "book.xlsx has no sheet named 'Nope'; its sheets are 'Tickets', 'Users'.", sheet="Nope")


def test_xlsx_dates_and_mixed_columns(tmp_path):
    import datetime as dt

    path = xlsx(tmp_path / "dates.xlsx", {"S": [["when", "mixed"], [dt.datetime(2024, 1, 2, 3, 4), 1],
                                                [dt.datetime(2024, 2, 3), "two"]]})
    result = read_table(path)
    assert str(result.frame["when"].dtype).startswith("datetime64")
    assert result.frame["mixed"].tolist() == ["1", "two"]
    parquet_ok(result.frame)


def test_xlsx_header_only_blank_and_duplicate_headers(tmp_path):
    fails(xlsx(tmp_path / "head.xlsx", {"S": [["a", "b"]]}), "head.xlsx: its sheet has a header but no rows.")
    fails(xlsx(tmp_path / "blank.xlsx", {"S": [["a", None, "c"], [1, 2, 3]]}),
          "blank.xlsx: column B has values but no name in the header row.")
    fails(xlsx(tmp_path / "dup.xlsx", {"S": [["id", "x", "id"], [1, 2, 3]]}),
          "dup.xlsx has duplicate column names: 'id' (columns A and C).")
    fails(xlsx(tmp_path / "nothing.xlsx", {"S": []}), "nothing.xlsx: its sheet is empty.")


def _zip_with(path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(zipfile.ZipInfo(member), data, compress_type=zipfile.ZIP_DEFLATED)
    return str(path)


def test_xlsx_with_unsafe_member_paths_is_refused(tmp_path):
    base = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
    fails(_zip_with(tmp_path / "evil.xlsx", {**base, "../evil": b"x"}), "evil.xlsx contains an unsafe path ('../evil')")
    fails(_zip_with(tmp_path / "abs.xlsx", {**base, "/etc/evil": b"x"}), "abs.xlsx contains an unsafe path")
    fails(_zip_with(tmp_path / "deep.xlsx", {**base, "xl/../../evil": b"x"}), "contains an unsafe path")


def test_zip_bomb_is_refused_before_opening(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(200):                     # 200 MB of zeros in under a megabyte
                member.write(chunk)
    assert path.stat().st_size < 2 * 2**20
    fails(path, "bomb.xlsx expands to 200.0 MB from")
    fails(path, "it looks like a zip bomb")
    # The total rule: a workbook that would expand past 20x the size limit.
    small = _zip_with(tmp_path / "big.xlsx", {"[Content_Types].xml": b"<Types/>", "xl/a.xml": bytes(300_000)})
    fails(small, "big.xlsx expands to", max_bytes=10_000)


# --- what the file says against what it holds ---------------------------------------------------------------------

def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_parquet(buffer)
    return buffer.getvalue()


def test_extension_and_content_disagree(tmp_path):
    fails(write(tmp_path, "data.csv", _parquet_bytes()),
          "data.csv says CSV but holds a Parquet file; rename it to .parquet.")
    book = xlsx(tmp_path / "real.xlsx", {"S": [["a"], [1]]})
    fails(write(tmp_path, "sheet.csv", open(book, "rb").read()),
          "sheet.csv says CSV but holds an Excel workbook; rename it to .xlsx.")
    fails(write(tmp_path, "x.parquet", "a,b\n1,2\n"), "x.parquet says Parquet but holds delimited text; rename it to .csv.")
    fails(write(tmp_path, "x.xlsx", "a,b\n1,2\n"), "x.xlsx says Excel but holds delimited text")
    fails(write(tmp_path, "rows.csv", '{"a": 1}\n{"a": 2}\n'), "rows.csv says CSV but holds JSON Lines; rename it to .jsonl.")
    fails(write(tmp_path, "table.jsonl", "a,b\n1,2\n"), "table.jsonl says JSON Lines but holds delimited text")
    fails(write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)),
          "old.xls is an old-style Excel (.xls) or other Office file; save it as an Excel Workbook (.xlsx)")
    fails(write(tmp_path, "web.xls", "a\tb\n1\t2\n"), "web.xls says old Excel (.xls) but holds delimited text")
    fails(write(tmp_path, "cut.xlsx", open(book, "rb").read()[:300]),
          "cut.xlsx is not a valid Excel workbook; its ZIP container is damaged.")
    archive = _zip_with(tmp_path / "a.zip", {"readme.txt": b"hello"})
    fails(write(tmp_path, "zipped.csv", open(archive, "rb").read()),
          "zipped.csv says CSV but holds a ZIP archive (not an Excel workbook)")


def test_images_and_binary_junk_are_not_tables(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(40)
    fails(write(tmp_path, "data.csv", png), "data.csv says CSV but holds a PNG image, which is not a text, Parquet or Excel file.")
    fails(write(tmp_path, "upload", png), "upload is a PNG image, which is not a text, Parquet or Excel file.")
    junk = random.Random(7).randbytes(5000)
    fails(write(tmp_path, "junk.bin", junk), "junk.bin is not a text, Parquet or Excel file.")
    fails(write(tmp_path, "nul.txt", b"a,b\n1,\x002\n"), "nul.txt is not a text, Parquet or Excel file.")
    fails(write(tmp_path, "yen.csv", b"\xa5" * 5000), "yen.csv has a header but no rows.")     # cp1252 text, one line


# --- every format: empty, header only, names, size -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["e.csv", "e.tsv", "e.jsonl", "e.json", "e.parquet", "e.xlsx", "e"])
def test_zero_byte_files_are_empty(tmp_path, name):
    assert fails(write(tmp_path, name, b"")) == f"{name} is empty."


def test_whitespace_only_files_are_empty(tmp_path):
    assert fails(write(tmp_path, "blank.csv", " \n\n\t \r\n")) == "blank.csv is empty."
    assert fails(write(tmp_path, "blank.jsonl", "\n\n")) == "blank.jsonl is empty."


def test_header_only_csv(tmp_path):
    assert fails(write(tmp_path, "head.csv", "a,b,c\n")) == "head.csv has a header but no rows."
    assert fails(write(tmp_path, "head2.csv", "a,b,c\n,,\n")) == "head2.csv has a header but no rows."


def test_duplicate_and_blank_column_names(tmp_path):
    assert fails(write(tmp_path, "dup.csv", "id,name,id\n1,a,2\n")) == (
        "dup.csv has duplicate column names: 'id' (columns 1 and 3).")
    assert fails(write(tmp_path, "blank.csv", "a,,c, \n1,2,3,4\n")) == (
        "blank.csv: columns 2 and 4 have values but no name in the header row.")
    fails(write(tmp_path, "keys.jsonl", '{"a": 1, " a": 2}\n'), "keys.jsonl has duplicate column names: 'a'.")
    fails(write(tmp_path, "nokey.jsonl", '{"": 1}\n'), "nokey.jsonl has a key with an empty name.")


def test_size_limit_is_checked_before_reading(tmp_path):
    path = write(tmp_path, "big.csv", "a\n" + "1\n" * 1000)
    assert fails(path, max_bytes=1024) == "big.csv is 2.0 KB, over the 1.0 KB limit."


def test_missing_file_and_folder(tmp_path):
    fails(tmp_path / "gone.csv", "gone.csv could not be found.")
    fails(tmp_path, "is a folder, not a file.")


def test_data_error_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput):
        read_table(write(tmp_path, "e.csv", b""))


# --- fuzz: nothing but DataError comes out ------------------------------------------------------------------------

def _valid_files(tmp_path) -> dict[str, bytes]:
    files = {
        "a.csv": RAGGED.replace("3,b\n", "3,b,30\n").replace(",extra", "").encode(),
        "a.tsv": "x\ty\n1\t\"two\nlines\"\n".encode("utf-16"),
        "a.jsonl": "\n".join(json.dumps(r) for r in CHAT).encode(),
        "a.json": json.dumps({"data": CHAT}).encode(),
        "a.parquet": _parquet_bytes(),
    }
    book = xlsx(tmp_path / "fuzz-source.xlsx", {"S": [["a", "b"], [1, "x"], [2, "y"]]})
    files["a.xlsx"] = open(book, "rb").read()
    return files


def _only_data_errors(path, **kwargs) -> None:
    try:
        result = read_table(path, **kwargs)
    except DataError as exc:
        assert path.name in exc.message, exc.message
        return
    assert isinstance(result, ReadResult) and result.format in FORMATS
    parquet_ok(result.frame)


def test_fuzz_truncated_flipped_and_random_files_raise_only_data_error(tmp_path):
    rng = random.Random(20240601)
    files = _valid_files(tmp_path)
    for name, data in files.items():
        assert read_table(write(tmp_path, name, data)).frame is not None      # the originals are valid
        cuts = sorted({1, 2, 3, 4, 8, len(data) // 3, len(data) // 2, len(data) - 1,
                       *(rng.randrange(1, len(data)) for _ in range(6))})
        for cut in cuts:
            _only_data_errors(write(tmp_path, f"cut-{cut}-{name}", data[:cut]))
        for flip in range(16):
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            _only_data_errors(write(tmp_path, f"flip-{flip}-{name}", bytes(mutated)),
                              skip_bad_rows=bool(flip % 2))
    for size in (1, 2, 5, 17, 100, 1000, 5000):
        for seed in range(3):
            junk = random.Random(size * 10 + seed).randbytes(size)
            for name in ("r.csv", "r.xlsx", "r"):
                _only_data_errors(write(tmp_path, name, junk))
            _only_data_errors(write(tmp_path, "p.parquet", b"PAR1" + junk))
            _only_data_errors(write(tmp_path, "z.xlsx", b"PK\x03\x04" + junk))
