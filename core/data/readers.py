"""Reading an uploaded data file (CSV, TSV, JSON Lines, JSON, Parquet, Excel) into a DataFrame.

`read_table` decides the format from the content (magic bytes, then sniffing), not from the name alone, and
turns every problem with the file into one `DataError` sentence that names the file and, where it applies, the
line. Nothing is written anywhere.

What the caller can rely on:

* the frame has plain, stripped, unique, non-empty string column names and a default RangeIndex, and
  `frame.to_parquet(...)` works on it;
* CSV/TSV cells are read as text, then whole columns that are clearly integers (no leading zeros, so zip codes
  stay text), decimals or true/false become numbers or booleans; empty fields are missing values;
* JSON and JSON Lines keep nested values (a chat's `messages`) as Python lists and dicts;
* text cells of CSV, TSV and Excel files get `core.exports.restore_cell`, so a workbench export re-imports as
  the original text;
* rows that are entirely empty and unnamed columns without any value are dropped, with a note.
"""
from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import itertools
import json
import math
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd

from core.errors import DataError
from core.exports import restore_cell

__all__ = ["FORMATS", "ReadResult", "SkippedRow", "read_table"]

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "xlsx")

DEFAULT_MAX_BYTES = 1024 * 2**20
HEAD_BYTES = 1 << 20            # what the format and encoding are decided on
CHUNK_BYTES = 4 << 20           # streaming reads on error paths
DELIMITERS = (",", "\t", ";", "|")
ZIP_EXPANSION_LIMIT = 20        # an xlsx may expand to at most this many times max_bytes
ZIP_RATIO_LIMIT = 100           # ... and no member over ZIP_LARGE_MEMBER may compress better than 100:1
ZIP_LARGE_MEMBER = 100 * 2**20
_CSV_BLOCK = 16 << 20

_LABELS = {"csv": "CSV", "tsv": "TSV", "text": "text", "jsonl": "JSON Lines", "json": "JSON",
           "parquet": "Parquet", "xlsx": "Excel", "xls": "old Excel (.xls)"}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "text", ".jsonl": "jsonl",
               ".ndjson": "jsonl", ".jsonlines": "jsonl", ".json": "json", ".parquet": "parquet",
               ".pq": "parquet", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls"}
# What a content kind is called in a sentence, and the extension it should have.
_CONTENT = {"parquet": ("a Parquet file", ".parquet"), "xlsx": ("an Excel workbook", ".xlsx"),
            "jsonl": ("JSON Lines", ".jsonl"), "json": ("a JSON document", ".json"),
            "delimited": ("delimited text", ".csv")}
# Claimed format -> content kinds that are fine for it.
_ACCEPTS = {"csv": {"delimited"}, "tsv": {"delimited"}, "jsonl": {"jsonl", "json"}, "json": {"json", "jsonl"},
            "parquet": {"parquet"}, "xlsx": {"xlsx"}, "xls": set()}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"), (b"%PDF-", "a PDF document"), (b"\x1f\x8b", "a gzip-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file"),
    (b"Rar!\x1a\x07", "a RAR archive"), (b"SQLite format 3\x00", "an SQLite database"),
    (b"ARROW1", "an Arrow/Feather file"), (b"\x7fELF", "a program"), (b"MZ", "a Windows program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office file (.xls or .doc)"),
)
_OLE = _MAGIC[-1][1]
_DAMAGED_ZIP = "a damaged ZIP archive"
_NOT_TABLE = "which is not a text, Parquet or Excel file"
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_CONTROL_OR_C1 = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_INT = r"-?(?:0|[1-9][0-9]*)"      # no '+', no leading zeros: "+44..." and "00123" stay text
_FLOAT = r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_CHAT_KEYS = {"messages", "conversations", "conversation", "chat"}
_LEGACY_ENCODINGS = ["cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "koi8_r",
                     "cp932", "gb18030", "big5", "euc_kr", "euc_jp"]


@dataclass(frozen=True)
class SkippedRow:
    """A row left out because the caller asked for `skip_bad_rows=True`."""

    line: int      # 1-based physical line (CSV, TSV, JSON Lines), item number (JSON array) or sheet row (Excel)
    reason: str    # a short sentence


@dataclass
class ReadResult:
    """A file read into a DataFrame, with the facts worth showing to the person who uploaded it."""

    frame: pd.DataFrame
    format: str                 # one of FORMATS
    encoding: str | None        # text formats: "utf-8", "utf-8-sig", "utf-16", "cp1252", ...
    delimiter: str | None       # csv and tsv
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_table(path: str | Path, *, display_name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
               skip_bad_rows: bool = False, sheet: str | None = None) -> ReadResult:
    """Reads one uploaded file into a DataFrame; any problem with the file raises `DataError`.

    `display_name` is the name the user knows the file by (the uploaded file's name): it is used in messages
    and its extension is what the file "says" it is. `skip_bad_rows` leaves out rows with the wrong number of
    fields (CSV, TSV), lines that are not JSON objects (JSON Lines) and items that are not objects (JSON arrays),
    listing them in `skipped`. `sheet` picks an Excel sheet by name (default: the first).
    """
    path = Path(path)
    name = display_name or path.name
    claimed = _EXTENSIONS.get(Path(name).suffix.lower())
    size = _file_size(path, name)
    if size > max_bytes:
        raise DataError(f"{name} is {_human(size)}, over the {_human(max_bytes)} limit.")
    if size == 0:
        raise DataError(f"{name} is empty.")
    head = _read_bytes(path, name, HEAD_BYTES)
    whole = size <= len(head)

    kind, what = _binary_kind(path, name, head)
    if kind is not None:
        _check_claim(name, claimed, kind)
        if kind == "parquet":
            return _read_parquet(path, name)
        if kind == "xlsx":
            return _read_xlsx(path, name, max_bytes, sheet)
        if what == _OLE:
            raise DataError(f"{name} is an old-style Excel (.xls) or other Office file; save it as an Excel "
                            f"Workbook (.xlsx) and upload that.")
        if what == _DAMAGED_ZIP and claimed == "xlsx":
            raise DataError(f"{name} is not a valid Excel workbook; its ZIP container is damaged.")
        if claimed in (None, "text"):
            raise DataError(f"{name} is {what}, {_NOT_TABLE}.")
        raise DataError(f"{name} says {_LABELS[claimed]} but holds {what}, {_NOT_TABLE}.")

    encoding, text, notes = _detect_encoding(head, whole, name)
    if not text.strip() and whole:
        raise DataError(f"{name} is empty.")
    content = _text_kind(text, claimed)
    _check_claim(name, claimed, content)
    if content == "delimited":
        result = _read_delimited(path, name, text, whole, encoding, claimed, skip_bad_rows)
    else:
        result = _read_json_family(path, name, content, encoding, claimed, skip_bad_rows)
    result.notes[:0] = notes
    return result


# --- file and format -------------------------------------------------------------------------------------------

def _file_size(path: Path, name: str) -> int:
    try:
        if path.is_dir():
            raise DataError(f"{name} is a folder, not a file.")
        return path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{name} could not be found.") from None
    except OSError as exc:
        raise DataError(f"{name} could not be opened ({exc.strerror or exc}).") from None


def _read_bytes(path: Path, name: str, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise DataError(f"{name} could not be opened ({exc.strerror or exc}).") from None


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _binary_kind(path: Path, name: str, head: bytes) -> tuple[str | None, str | None]:
    """("parquet"|"xlsx"|"binary", description) for files that are not text, (None, None) for text."""
    if head.startswith(b"PAR1"):
        return "parquet", "a Parquet file"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - zipfile raises many types for damaged archives
            return "binary", _DAMAGED_ZIP
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            return "xlsx", "an Excel workbook"
        return "binary", "a ZIP archive (not an Excel workbook)"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if magic == b"MZ" and not _looks_binary(head):
                continue                        # a CSV whose first column header starts with "MZ"
            return "binary", what
    return None, None


def _looks_binary(head: bytes) -> bool:
    return b"\x00" in head[:4096] or len(_CONTROL.findall(head[:4096].decode("latin-1"))) > 40


def _check_claim(name: str, claimed: str | None, content: str) -> None:
    if claimed in (None, "text") or content == "binary" or content in _ACCEPTS[claimed]:
        return
    if claimed == "xls" and content == "xlsx":
        raise DataError(f"{name} says old Excel (.xls) but holds an Excel workbook (.xlsx); rename it to .xlsx.")
    described, ext = _CONTENT[content]
    raise DataError(f"{name} says {_LABELS[claimed]} but holds {described}; rename it to {ext}.")


def _text_kind(text: str, claimed: str | None) -> str:
    """"jsonl", "json" or "delimited", from the first characters of the decoded text."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        if claimed == "jsonl":
            return "jsonl"
        lines = [line for line in stripped.split("\n", 3)[:3] if line.strip()]
        for line in lines[:2]:
            try:
                if isinstance(json.loads(line), dict):
                    return "jsonl"
            except (ValueError, RecursionError):
                pass
        if claimed in ("json", "jsonl") or re.match(r'\{\s*(?:"|\}|\Z)', stripped):
            return "json"
        return "delimited"
    if stripped.startswith("["):
        if claimed in ("json", "jsonl") or re.match(r"\[\s*(?:\{|\[|\]|\Z)", stripped):
            return "json"
    if claimed in ("json", "jsonl"):
        try:
            json.loads(stripped)
            return "json"                   # a lone number, string, true/false or null: JSON, just not records
        except (ValueError, RecursionError):
            pass
    return "delimited"


# --- encodings ------------------------------------------------------------------------------------------------

def _detect_encoding(head: bytes, whole: bool, name: str) -> tuple[str, str, list[str]]:
    """(encoding, decoded head, notes); raises DataError for bytes that are not text."""
    not_text = f"{name} is not a text, Parquet or Excel file."
    bom = None
    if head.startswith(b"\xef\xbb\xbf"):
        bom = "utf-8-sig"
    elif head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        bom = "utf-32"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        bom = "utf-16"
    encoding = bom or _utf16_without_bom(head)
    if encoding:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=whole)
        except UnicodeDecodeError as exc:
            line = exc.object[:exc.start].decode(encoding, errors="replace").count("\n") + 1
            raise DataError(f"{name}, line {line}: the text is not valid {encoding.upper()}.") from None
        if _control_ratio(text) > 0.01:
            raise DataError(not_text)
        return encoding, text, []
    if b"\x00" in head:
        raise DataError(not_text)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
        if _control_ratio(text) > 0.01:
            raise DataError(not_text)
        return "utf-8", text, []
    except UnicodeDecodeError as exc:
        before = exc.object[:exc.start].decode("utf-8")
        if not before.isascii():
            # Valid UTF-8 letters first, then a byte that is not: a damaged or mixed file, not a legacy encoding.
            raise DataError(f"{name}, line {before.count(chr(10)) + 1}: the text is not valid UTF-8 although "
                            f"the lines before it are; save the file as UTF-8 again.") from None
    sample = head[:65536]
    try:
        text = head.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and _control_ratio(text) <= 0.01 and _looks_western(text[:65536]):
        return "cp1252", text, [f"{name} is not UTF-8; it was read as Windows-1252 (cp1252) text."]
    guessed = _guess_legacy(sample)
    if guessed is not None:
        encoding, language = guessed
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=whole)
            if _control_ratio(text) <= 0.01:
                return encoding, text, [f"{name} is not UTF-8; its encoding looks like {encoding} ({language}) "
                                        f"and it was read as such."]
        except UnicodeDecodeError:
            pass
    if text is not None and _control_ratio(text) <= 0.01:
        return "cp1252", text, [f"{name} is not UTF-8; it was read as Windows-1252 (cp1252) text."]
    latin = head.decode("latin-1")
    if len(_CONTROL_OR_C1.findall(latin)) <= 0.002 * max(len(latin), 1):
        return "latin-1", latin, [f"{name} is not UTF-8; it was read as Latin-1 text."]
    raise DataError(not_text)


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _control_ratio(text: str) -> float:
    sample = text[:65536]
    return len(_CONTROL.findall(sample)) / max(len(sample), 1)


def _looks_western(text: str) -> bool:
    """Whether cp1252-decoded text reads like a Western language (few accented letters among ASCII ones)."""
    letters = accented = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if ord(ch) > 127:
                accented += 1
    return letters == 0 or accented / letters < 0.4


def _guess_legacy(sample: bytes) -> tuple[str, str] | None:
    try:
        from charset_normalizer import from_bytes
        for match in from_bytes(sample, cp_isolation=_LEGACY_ENCODINGS):
            if match.language and match.language != "Unknown":
                return match.encoding, match.language
    except Exception:  # noqa: BLE001 - a guess that fails is no guess
        return None
    return None


def _first_undecodable(path: Path, encoding: str) -> tuple[int, bool] | None:
    """(1-based line of the first byte `encoding` cannot decode, whether all text before it is ASCII)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines, ascii_only = 0, True
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                before = exc.object[:exc.start].decode(encoding, errors="replace")
                return lines + before.count("\n") + 1, ascii_only and before.isascii()
            lines += text.count("\n")
            ascii_only = ascii_only and text.isascii()
            if not chunk:
                return None


def _encoding_error(path: Path, name: str, encoding: str) -> tuple[str | None, DataError]:
    """After a decoding failure: (an encoding to retry with, or None) and the error to raise otherwise."""
    found = _first_undecodable(path, encoding)
    if found is None:
        return None, DataError(f"{name} could not be decoded as {encoding} text.")
    line, ascii_before = found
    if encoding in ("utf-8", "utf-8-sig") and ascii_before:
        return "cp1252", DataError(f"{name}, line {line}: the text is neither UTF-8 nor Windows-1252.")
    if encoding in ("utf-8", "utf-8-sig"):
        return None, DataError(f"{name}, line {line}: the text is not valid UTF-8 although the lines before it "
                               f"are; save the file as UTF-8 again.")
    return None, DataError(f"{name}, line {line}: the text is not valid {encoding}.")


def _decode_all(path: Path, name: str, encoding: str) -> tuple[str, str, list[str]]:
    data = _read_bytes(path, name, -1)
    try:
        return data.decode(encoding), encoding, []
    except UnicodeDecodeError:
        retry, error = _encoding_error(path, name, encoding)
    if retry:
        try:
            return data.decode(retry), retry, [f"{name} is not UTF-8; it was read as Windows-1252 (cp1252) text."]
        except UnicodeDecodeError:
            pass
    raise error


# --- CSV and TSV ----------------------------------------------------------------------------------------------

def _read_delimited(path: Path, name: str, text: str, whole: bool, encoding: str, claimed: str | None,
                    skip_bad_rows: bool) -> ReadResult:
    delimiter = _detect_delimiter(text, whole, prefer_tab=claimed == "tsv")
    notes = []
    if claimed == "tsv" and delimiter != "\t":
        notes.append(f"{name} is separated by {delimiter!r}, not tabs.")
    header = _first_record(text, delimiter)
    if header is None:
        raise DataError(f"{name} is empty.")
    expected = len(header)
    while True:
        table, bad = _arrow_csv(path, name, encoding, delimiter, expected, skip_bad_rows)
        if isinstance(table, str):          # an encoding to retry with
            notes.append(f"{name} is not UTF-8; it was read as Windows-1252 (cp1252) text.")
            encoding = table
            continue
        break
    skipped: list[SkippedRow] = []
    if bad:
        found = list(_bad_records(path, encoding, delimiter, expected, first_only=not skip_bad_rows))
        if not skip_bad_rows:
            if found:
                line, count = found[0]
                raise DataError(f"{name}, line {line}: expected {expected} fields but found {count}.",
                                hint="Fix the row, or read the file with bad rows skipped.")
            exp, act, text_ = bad[0]
            raise DataError(f"{name}: a row has {act} fields instead of {exp} (it starts {text_[:40]!r}).")
        skipped = [SkippedRow(line, f"Expected {expected} fields but found {count}.") for line, count in found]
        count = len(skipped) or len(bad)
        notes.append(f"Skipped {count} bad row{'s' if count != 1 else ''}.")
    if table.num_rows > 1:
        _check_closing_quote(path, name, table, encoding, delimiter)
    header_values = [table.column(i)[0].as_py() if table.num_rows else None for i in range(table.num_columns)]
    data = table.slice(1)
    frame = data.to_pandas()
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    columns = [_restore_strings(s) for s in columns]
    frame, more = _finish(name, header_values, columns, kind="csv")
    notes.extend(more)
    for col in frame.columns:
        frame[col] = _infer_type(frame[col])
    fmt = "tsv" if delimiter == "\t" else "csv"
    return ReadResult(frame, fmt, encoding, delimiter, skipped, notes)


def _detect_delimiter(text: str, whole: bool, *, prefer_tab: bool) -> str:
    """The candidate that splits the header into the most consistent field counts over the first records."""
    sample = text[:262144]
    partial = not whole or len(text) > len(sample)
    order = ("\t", ",", ";", "|") if prefer_tab else DELIMITERS
    best, best_key = order[0], None
    for rank, delim in enumerate(order):
        counts, stopped = [], False
        try:
            for row in _csv_reader(io.StringIO(sample), delim):
                if row:
                    counts.append(len(row))
                if len(counts) > 200:
                    stopped = True
                    break
        except csv.Error:
            continue
        if partial and not stopped and len(counts) > 2:
            counts = counts[:-1]            # the sample may end inside the last record
        if not counts or counts[0] < 2:
            continue
        consistency = sum(1 for n in counts[1:] if n == counts[0]) / max(len(counts) - 1, 1)
        key = (round(consistency, 2), -rank)
        if best_key is None or key > best_key:
            best, best_key = delim, key
    return best


def _first_record(text: str, delimiter: str) -> list[str] | None:
    try:
        for row in _csv_reader(io.StringIO(text[:262144]), delimiter):
            if row:
                return row
    except csv.Error:
        for line in text.splitlines():
            if line:
                return line.split(delimiter)
    return None


def _csv_reader(lines, delimiter: str, *, strict: bool = False):
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)     # the default 128 KB is shorter than some prompts
    return csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=strict)


def _arrow_csv(path: Path, name: str, encoding: str, delimiter: str, expected: int, skip_bad_rows: bool):
    """(table with the header as row 0 and every column text, [(expected, actual, text)] of bad rows).

    Returns (encoding, None) when the file should be read again with that encoding.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad: list[tuple[int, int, str]] = []

    def on_bad_row(row):
        bad.append((row.expected_columns, row.actual_columns, row.text or ""))
        return "skip" if skip_bad_rows else "error"

    block = _CSV_BLOCK
    arrow_encoding = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding
    while True:
        bad.clear()
        try:
            table = pacsv.read_csv(
                str(path),
                read_options=pacsv.ReadOptions(use_threads=True, block_size=block, encoding=arrow_encoding,
                                               autogenerate_column_names=True),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                                 escape_char=False, newlines_in_values=True,
                                                 ignore_empty_lines=True, invalid_row_handler=on_bad_row),
                convert_options=pacsv.ConvertOptions(
                    column_types={f"f{i}": pa.string() for i in range(expected)}, strings_can_be_null=True,
                    quoted_strings_can_be_null=True, null_values=[""], check_utf8=True))
            break
        except UnicodeDecodeError:
            retry, error = _encoding_error(path, name, encoding)
            if retry:
                return retry, None
            raise error from None
        except (pa.ArrowException, OSError, ValueError) as exc:
            message = str(exc)
            if bad:
                return None, bad
            if "invalid UTF8" in message or "can't decode" in message:
                retry, error = _encoding_error(path, name, encoding)
                if retry:
                    return retry, None
                raise error from None
            if "Empty CSV file" in message:
                raise DataError(f"{name} has a header but no rows.") from None
            if "straddl" in message.lower():
                if block >= 2**30:
                    raise DataError(f"{name} has a row too large to read.") from None
                block = min(block * 8, 2**30)
                continue
            raise DataError(f"{name} could not be read as delimited text ({_short(message)}).") from None
    for i in range(table.num_columns):
        if not pa.types.is_string(table.schema.field(i).type):
            table = table.set_column(i, table.schema.field(i).name, table.column(i).cast(pa.string()))
    return table, bad


def _python_encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _records(path: Path, encoding: str, delimiter: str, *, strict: bool = False):
    """(first physical line, fields) of each non-blank record, with Python's csv module (error paths only)."""
    with open(path, encoding=_python_encoding(encoding), newline="", errors="replace") as f:
        reader = _csv_reader(f, delimiter, strict=strict)
        previous = 0
        while True:
            start = previous + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            previous = reader.line_num
            if fields:
                yield start, fields


def _bad_records(path: Path, encoding: str, delimiter: str, expected: int, *, first_only: bool):
    """(line, field count) of records whose field count differs from the header's."""
    records = _records(path, encoding, delimiter)
    try:
        next(records)                       # the header
        for line, fields in records:
            if len(fields) != expected:
                yield line, len(fields)
                if first_only:
                    return
    except csv.Error:
        return


def _check_closing_quote(path: Path, name: str, table, encoding: str, delimiter: str) -> None:
    """A quote that never closes swallows the rest of the file into one field: say where it opened."""
    last = [table.column(i)[table.num_rows - 1].as_py() for i in range(table.num_columns)]
    if not any(isinstance(v, str) and ("\n" in v or "\r" in v) for v in last):
        return
    line = 0
    try:
        for line, _ in _records(path, encoding, delimiter):
            pass
    except csv.Error:
        return
    if not line:
        return
    with open(path, encoding=_python_encoding(encoding), newline="", errors="replace") as f:
        tail = itertools.islice(f, line - 1, None)
        try:
            for _ in _csv_reader(tail, delimiter, strict=True):
                pass
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise DataError(f"{name}, line {line}: a quoted field opens here but its closing quote is "
                                f"missing.") from None


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= 120 else message[:117] + "..."


# --- JSON and JSON Lines --------------------------------------------------------------------------------------

def _read_json_family(path: Path, name: str, content: str, encoding: str, claimed: str | None,
                      skip_bad_rows: bool) -> ReadResult:
    text, encoding, notes = _decode_all(path, name, encoding)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise DataError(f"{name} is empty.")
    skipped: list[SkippedRow] = []
    if content == "jsonl" and claimed != "jsonl" and "\n" not in text.strip():
        # One line holding one object: a compact JSON document like {"data": [...]}, or a one-row JSON Lines file.
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and _records_field(value) is not None:
            content = "json"
    if content == "jsonl":
        records = _jsonl_records(name, text, skip_bad_rows, skipped)
        if not records:
            raise DataError(f"{name} has no records." if not skipped else f"{name} has no valid lines.")
        fmt = "jsonl"
    else:
        records, more = _json_records(name, text, skip_bad_rows, skipped)
        notes.extend(more)
        fmt = "json"
    if skipped:
        notes.append(f"Skipped {len(skipped)} bad {'line' if fmt == 'jsonl' else 'item'}"
                     f"{'s' if len(skipped) != 1 else ''}.")
    keys: dict[str, None] = {}
    for record in records:
        for key in record:
            keys.setdefault(key, None)
    if not keys:
        raise DataError(f"{name} holds only empty objects.")
    raw_names = list(keys)
    columns = []
    for key in raw_names:
        series, note = _column_from_values([r.get(key) for r in records], key.strip())
        columns.append(series)
        if note:
            notes.append(note)
    frame, more = _finish(name, raw_names, columns, kind="json")
    notes.extend(more)
    return ReadResult(frame, fmt, encoding, None, skipped, notes)


def _jsonl_records(name: str, text: str, skip_bad_rows: bool, skipped: list[SkippedRow]) -> list[dict]:
    records = []
    loads = json.loads
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            value = loads(line)
        except ValueError as exc:
            reason = f"This line is not valid JSON ({_json_reason(exc)})."
        except RecursionError:
            reason = "This line is nested too deeply."
        else:
            if type(value) is dict:
                records.append(value)
                continue
            reason = f"Expected a JSON object but found {_json_kind(value)}."
        if not skip_bad_rows:
            raise DataError(f"{name}, line {number}: {reason[0].lower()}{reason[1:]}")
        skipped.append(SkippedRow(number, reason))
    return records


def _json_records(name: str, text: str, skip_bad_rows: bool, skipped: list[SkippedRow]):
    notes = []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise DataError(f"{name}, line {exc.lineno}: more JSON follows the first value; a JSON file must "
                            f"hold one array (use .jsonl for one object per line).") from None
        raise DataError(f"{name}, line {exc.lineno}: the JSON is not valid ({_json_reason(exc)}).") from None
    except ValueError as exc:
        raise DataError(f"{name}: the JSON is not valid ({_short(str(exc))}).") from None
    except RecursionError:
        raise DataError(f"{name}: the JSON is nested too deeply.") from None
    if isinstance(value, dict):
        key = _records_field(value)
        if key is None:
            raise DataError(f"{name} holds a JSON object, not a list of records; it should be an array of objects "
                            f"or an object with one list of objects (like {{\"data\": [...]}}).")
        notes.append(f"Read the records under {key!r}.")
        value = value[key]
    if not isinstance(value, list):
        raise DataError(f"{name} holds {_json_kind(value)}, not an array of objects.")
    if not value:
        raise DataError(f"{name} has no records (the array is empty).")
    records = []
    for number, item in enumerate(value, 1):
        if type(item) is dict:
            records.append(item)
            continue
        reason = f"Item {number} is {_json_kind(item)}, not an object."
        if not skip_bad_rows:
            raise DataError(f"{name}: item {number} of the array is {_json_kind(item)}, not an object.")
        skipped.append(SkippedRow(number, reason))
    if not records:
        raise DataError(f"{name} has no objects in its array.")
    return records, notes


def _records_field(value: dict) -> str | None:
    """The one list field of a wrapper object like {"data": [...]}; a chat's own `messages` is not one."""
    lists = [k for k, v in value.items() if isinstance(v, list) and k.strip().lower() not in _CHAT_KEYS]
    if len(lists) == 1:
        return lists[0]
    of_objects = [k for k in lists if any(isinstance(x, dict) for x in value[k])]
    return of_objects[0] if len(of_objects) == 1 else None


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return _short(str(exc))


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


# --- Parquet --------------------------------------------------------------------------------------------------

def _read_parquet(path: Path, name: str) -> ReadResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(str(path))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for damaged files
        raise DataError(f"{name} is not a readable Parquet file; it may be damaged or cut short "
                        f"({_short(str(exc))}).") from None
    if table.num_columns == 0:
        raise DataError(f"{name} has no columns.")
    duplicates = [n for n, c in Counter(table.column_names).items() if c > 1]
    if duplicates:
        raise DataError(f"{name} has duplicate column names: {', '.join(repr(d) for d in duplicates)}.")
    try:
        frame = table.to_pandas()
        for i, column in enumerate(table.schema):
            if pa.types.is_nested(column.type) and column.name in frame.columns:
                # Python lists and dicts, as from JSON, rather than NumPy arrays.
                frame[column.name] = pd.Series(table.column(i).to_pylist(), dtype=object, index=frame.index)
        if isinstance(frame.index, pd.RangeIndex) and frame.index.name is None:
            frame = frame.reset_index(drop=True)
        else:
            frame = frame.reset_index()
        raw_names = [str(c) for c in frame.columns]
        columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{name} has a column that cannot be read ({_short(str(exc))}).") from None
    frame, notes = _finish(name, raw_names, columns, kind="parquet")
    return ReadResult(frame, "parquet", None, None, [], notes)


# --- Excel ----------------------------------------------------------------------------------------------------

def _check_zip(path: Path, name: str, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - zipfile raises many types for damaged archives
        raise DataError(f"{name} is not a valid Excel workbook; its ZIP container is damaged.") from None
    total = 0
    for info in members:
        member = info.filename
        if _unsafe_member(member):
            raise DataError(f"{name} contains an unsafe path ({member!r}), so it was not opened.")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > min(ZIP_LARGE_MEMBER, max_bytes) and ratio > ZIP_RATIO_LIMIT:
            raise DataError(f"{name} expands to {_human(info.file_size)} from {_human(info.compress_size)}; "
                            f"it looks like a zip bomb.")
    if total > ZIP_EXPANSION_LIMIT * max_bytes:
        raise DataError(f"{name} expands to {_human(total)}; it looks like a zip bomb.")


def _unsafe_member(member: str) -> bool:
    if not member or member.startswith(("/", "\\")) or "\x00" in member:
        return True
    for pure in (PurePosixPath(member), PureWindowsPath(member)):
        if pure.is_absolute() or pure.drive or ".." in pure.parts:
            return True
    return False


def _read_xlsx(path: Path, name: str, max_bytes: int, sheet: str | None) -> ReadResult:
    _check_zip(path, name, max_bytes)
    import openpyxl

    notes: list[str] = []
    workbook = None
    try:
        workbook = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
        names = list(workbook.sheetnames)
        if not names:
            raise DataError(f"{name} has no sheets.")
        if sheet is None:
            chosen = names[0]
            if len(names) > 1:
                notes.append(f"Read sheet {chosen!r} of {len(names)}.")
        elif sheet in names:
            chosen = sheet
        else:
            listed = ", ".join(repr(n) for n in names)
            raise DataError(f"{name} has no sheet named {sheet!r}; its sheets are {listed}.")
        worksheet = workbook[chosen]
        if not hasattr(worksheet, "iter_rows"):
            raise DataError(f"{name}: sheet {chosen!r} is a chart, not a table.")
        rows: list[tuple] = []
        header_number = None
        width = empty_inside = pending_empty = 0
        for number, row in enumerate(worksheet.iter_rows(values_only=True), 1):
            last = len(row)
            while last and (row[last - 1] is None or row[last - 1] == ""):
                last -= 1
            if last == 0:
                pending_empty += header_number is not None
                continue
            if header_number is None:
                header_number = number
            empty_inside += pending_empty
            pending_empty = 0
            width = max(width, last)
            rows.append(row[:last])
    except DataError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl and zipfile raise many types for damaged workbooks
        raise DataError(f"{name} could not be read as an Excel workbook ({_short(str(exc)) or type(exc).__name__})."
                        ) from None
    finally:
        if workbook is not None:
            try:
                workbook.close()
            except Exception:  # noqa: BLE001
                pass
    label = f"sheet {chosen!r}" if len(names) > 1 or sheet else "its sheet"
    if not rows:
        raise DataError(f"{name}: {label} is empty.")
    if header_number and header_number > 1:
        notes.append(f"The header is row {header_number}; the empty rows above it were ignored.")
    if empty_inside:
        notes.append(f"Dropped {empty_inside} empty row{'s' if empty_inside != 1 else ''}.")
    header = list(rows[0]) + [None] * (width - len(rows[0]))
    data = rows[1:]
    if not data:
        raise DataError(f"{name}: {label} has a header but no rows.")
    raw_names = ["" if v is None else _cell_text(v) for v in header]
    columns = []
    for i, key in enumerate(raw_names):
        values = [row[i] if i < len(row) else None for row in data]
        values = [None if v == "" else v for v in values]
        series, note = _column_from_values(values, key.strip())
        columns.append(_restore_strings(series))
        if note:
            notes.append(note)
    frame, more = _finish(name, raw_names, columns, kind="xlsx")
    notes.extend(more)
    return ReadResult(frame, "xlsx", None, None, [], notes)


def _column_letter(position: int) -> str:
    letters = ""
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- columns and types ----------------------------------------------------------------------------------------

def _finish(name: str, raw_names: list, columns: list[pd.Series], *, kind: str) -> tuple[pd.DataFrame, list[str]]:
    """Checks the names, drops unnamed empty columns (and, for CSV, empty rows) and builds the frame.

    `kind` is "csv", "xlsx", "json" or "parquet": it decides how columns are named in messages.
    """
    notes = []
    names = [("" if v is None else str(v)) for v in raw_names]
    if kind in ("csv", "xlsx"):
        names = [restore_cell(n) for n in names]
    names = [n.strip() for n in names]
    keep, unnamed, dropped = [], [], 0
    for position, (col_name, series) in enumerate(zip(names, columns), 1):
        if col_name:
            keep.append(position - 1)
        elif series.isna().all():
            dropped += 1
        else:
            unnamed.append(position)
    if unnamed:
        if kind == "json":
            raise DataError(f"{name} has a key with an empty name.")
        if kind == "parquet":
            raise DataError(f"{name} has a column with an empty name.")
        where = _positions(unnamed, excel=kind == "xlsx")
        if len(unnamed) == 1:
            raise DataError(f"{name}: column {where} has values but no name in the header row.")
        raise DataError(f"{name}: columns {where} have values but no name in the header row.")
    if dropped:
        notes.append(f"Dropped {dropped} unnamed empty column{'s' if dropped != 1 else ''}.")
    counts = Counter(names[i] for i in keep)
    duplicates = [n for n, c in counts.items() if c > 1]
    if duplicates:
        if kind in ("csv", "xlsx"):
            parts = [f"{dup!r} (columns {_positions([i + 1 for i in keep if names[i] == dup], kind == 'xlsx')})"
                     for dup in duplicates]
        else:
            parts = [repr(dup) for dup in duplicates]
        raise DataError(f"{name} has duplicate column names: {'; '.join(parts)}.")
    if not keep:
        raise DataError(f"{name} has no named columns.")
    frame = pd.DataFrame({names[i]: columns[i].reset_index(drop=True) for i in keep})
    if kind == "csv" and len(frame):
        empty = frame.isna().all(axis=1)
        count = int(empty.sum())
        if count:
            frame = frame.loc[~empty]
            notes.append(f"Dropped {count} empty row{'s' if count != 1 else ''}.")
    frame = frame.reset_index(drop=True)
    if frame.empty:
        if kind == "parquet":
            raise DataError(f"{name} has columns but no rows.")
        raise DataError(f"{name} has a header but no rows.")
    return frame, notes


def _positions(positions: list[int], excel: bool) -> str:
    texts = [_column_letter(p) if excel else str(p) for p in positions]
    if len(texts) == 1:
        return texts[0]
    return ", ".join(texts[:-1]) + " and " + texts[-1]


def _restore_strings(series: pd.Series) -> pd.Series:
    """`restore_cell` on the cells that start with a quote, for text columns only."""
    if not (pd.api.types.is_string_dtype(series.dtype) and series.dtype != object):
        return series
    mask = series.str.startswith("'").fillna(False).astype(bool)
    if mask.any():
        series = series.copy()
        series[mask] = series[mask].map(restore_cell)
    return series


def _infer_type(series: pd.Series) -> pd.Series:
    """Integer, decimal or true/false for text columns that are clearly that; other text stays text."""
    values = series.dropna()
    if values.empty:
        return series
    probe = values.iloc[:1000]
    has_na = len(values) != len(series)
    if probe.str.fullmatch(_INT).all() and values.str.fullmatch(_INT).all():
        if values.str.len().max() <= 18:
            numbers = series.astype("Int64")
            return numbers if has_na else numbers.astype("int64")
        return series
    if probe.str.fullmatch(_FLOAT).all() and values.str.fullmatch(_FLOAT).all():
        return pd.to_numeric(series).astype("float64")
    lowered = probe.str.lower()
    if lowered.isin(["true", "false"]).all():
        lowered = series.str.lower()
        if lowered.dropna().isin(["true", "false"]).all():
            flags = lowered.map({"true": True, "false": False})
            return flags.astype("boolean") if has_na else flags.astype(bool)
    return series


def _column_from_values(values: list, name: str) -> tuple[pd.Series, str | None]:
    """A column from Python values (JSON, Excel): one dtype, or text, or nested values Parquet can store."""
    present = [v for v in values if v is not None]
    if not present:
        return pd.Series([None] * len(values), dtype="str"), None
    types = {type(v) for v in present}
    has_na = len(present) != len(values)
    if types <= {bool}:
        return pd.Series(values, dtype="boolean" if has_na else bool), None
    if types <= {int}:
        if all(-2**63 <= v < 2**63 for v in present):
            return pd.Series(values, dtype="Int64" if has_na else "int64"), None
        return pd.Series([None if v is None else str(v) for v in values], dtype="str"), (
            f"Column {name!r} has integers too large for a 64-bit number, so it was read as text.")
    if types <= {int, float}:
        return pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64"), None
    if types <= {str}:
        return pd.Series(values, dtype="str"), None
    if types <= {_dt.datetime, _dt.date} and _dt.time not in types:
        try:
            return pd.Series(pd.to_datetime(values)), None
        except (ValueError, OverflowError, TypeError):
            pass
    nested = types & {list, dict}
    if nested:
        if _arrow_storable(values):
            return pd.Series(values, dtype=object), None
        encoded = [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
                   for v in values]
        return pd.Series(encoded, dtype="str"), (
            f"Column {name!r} holds nested values that Parquet cannot store as they are, so they were kept as "
            f"JSON text.")
    text = [None if v is None else _cell_text(v) for v in values]
    note = f"Column {name!r} mixes values of different types, so it was read as text." if len(types) > 1 else None
    return pd.Series(text, dtype="str"), note


def _cell_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, _dt.datetime) else value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _arrow_storable(values: list) -> bool:
    import pyarrow as pa

    try:
        arrow_type = pa.array(values, from_pandas=True).type
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return False
    return _parquet_type_ok(arrow_type)


def _parquet_type_ok(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return arrow_type.num_fields > 0 and all(_parquet_type_ok(arrow_type.field(i).type)
                                                 for i in range(arrow_type.num_fields))
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return _parquet_type_ok(arrow_type.value_type)
    if pa.types.is_map(arrow_type):
        return _parquet_type_ok(arrow_type.key_type) and _parquet_type_ok(arrow_type.item_type)
    return not pa.types.is_union(arrow_type)
