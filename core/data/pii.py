"""PII detection and redaction: a registry of PII types, each a regex, a cheap prefilter and a validator.

`scan_series` reports, per type, how many rows hold a match (with example row positions); `redact_series` and
`redact_text` replace every match with the type's placeholder (`<EMAIL>`, `<PHONE>`, ...) and count them.

Precision comes first: a profile full of false alarms is useless. So every candidate is checked by a validator
(Luhn plus card-network prefixes and lengths for cards, ISO 13616 mod-97 plus the country's length for IBANs,
`ipaddress` for IP addresses, the SSA rules for SSNs, digit counts and number-shape rules for phones), and the
regexes refuse to match inside longer digit runs, words, dotted sequences, dates and paths.

Speed: on a Series, one vectorised pass of all prefilters together (RE2 in pyarrow.compute, over an Arrow string
array) picks the candidate rows; each prefilter alone then runs on those few rows, and only they go through
Python's `re` and the validators. Every prefilter matches a superset of what its type's regex can match, so it
never hides a finding (a test checks scan results against a scan without prefilters).

Overlaps: a span is reported once, by the most specific type (email > IBAN > credit card > SSN > IP > phone).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InvalidInput

Span = tuple[int, int]


@dataclass(frozen=True)
class PiiType:
    """One kind of PII: a regex for candidates, a validator that accepts (and may trim) them, and a prefilter.

    `prefilter` is an RE2 pattern (pyarrow.compute) that matches every text in which `pattern` can match.
    `validate` takes a regex match and returns the span to report, or None.
    """

    name: str
    label: str
    placeholder: str
    priority: int = field(compare=False)          # lower wins when two types claim overlapping text
    pattern: re.Pattern = field(repr=False, compare=False)
    prefilter: str = field(repr=False, compare=False)
    validate: Callable[[re.Match], Span | None] = field(repr=False, compare=False)


@dataclass(frozen=True)
class PiiFinding:
    type: str                 # PiiType.name
    rows: int                 # rows (values) containing at least one match
    matches: int              # total matches
    example_rows: list[int]   # up to 5 row positions (0-based positions in the series) with a match


EXAMPLE_ROWS = 5


def _compile(pattern: str) -> re.Pattern:
    """Verbose Unicode regex where \\d means ASCII digits only: boundaries see every script's letters
    ("jürgen.müller@..." is one address, "é555-123-4567" no phone), digits stay those the RE2 prefilters see."""
    if re.search(r"\[[^\]]*\\d", pattern):
        raise ValueError("Write [0-9], not \\d, inside a character class.")
    return re.compile(pattern.replace(r"\d", "[0-9]"), re.VERBOSE)


# ---------------------------------------------------------------------------------------------------- e-mail

_EMAIL_RE = _compile(r"""
    (?<![\w%+\-])(?<![\w%+\-]\.)                # start at the start of the local part (and stay linear on "a.a.a...")
    [\w%+\-]+(?:\.[\w%+\-]+)*                    # local part: dot-separated atoms (any script)
    @
    (?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+        # domain labels
    [^\W0-9_]{2,24}                              # top-level domain: letters
    (?![\w\-])
""")

# "icon@2x.png" and friends: file names, not addresses (none of these is a top-level domain).
_FILE_SUFFIXES = frozenset("png jpg jpeg gif svg webp bmp ico tif tiff heic css js mjs json txt log pdf zip gz tgz "
                           "tar yaml yml xml html htm csv tsv mp3 mp4 wav mov avi".split())


def _valid_email(m: re.Match) -> Span | None:
    local, domain = m.group().rsplit("@", 1)
    if len(local) > 64 or len(domain) > 253:
        return None
    if domain.rsplit(".", 1)[1].lower() in _FILE_SUFFIXES:
        return None
    # "git@github.com:org/repo.git" is an SSH remote, not a person's address.
    if re.match(r":\S", m.string[m.end():m.end() + 2]):
        return None
    return m.span()


# ---------------------------------------------------------------------------------------------------- phone

_PHONE_RE = _compile(r"""
    (?<![\w.+\-/])                            # not inside a word, a number, a version, a path
    (?<!\d[ ,:])                              # not the tail of a longer spaced number
    (?:
        (?P<intl>(?:\+|00(?=[1-9]\d{0,2}[ \-(]))   # +CC, or 00CC followed by a space, dash or bracket
            [1-9]\d{0,2}
            (?:[ .\-]?\(\d{1,4}\))?               # (0) trunk prefix or (area code)
            [ .\-]?\d+
            (?:[ .\-]\d{2,})*)
      | (?P<us>(?:1[ .\-])?
            (?:\(\d{3}\)\ ?\d{3}[ .\-]\d{4}       # (555) 123-4567
             | \d{3}-\d{3}-\d{4}                  # 555-123-4567
             | \d{3}\.\d{3}\.\d{4}                # 555.123.4567
             | [2-9]\d{2}\ \d{3}\ \d{4}))         # 555 123 4567
      | (?P<nat>(?:\(0[1-9]\d{0,3}\)\ ?|0[1-9]\d{0,3}[ \-/])   # trunk 0: 030 1234567, (020) 7946 0958
            \d{2,}(?:[ \-]\d{2,})*)
    )
    (?![\w@])(?![.\-/:,]\d)                   # not followed by more of a number, a date, a time, an @
""")

_THOUSANDS_RE = re.compile(r"(?:\+|00)\d{1,3}(?:\.\d{3})+", re.ASCII)
_DATE_RE = re.compile(r"(?:19|20)\d\d-[01]\d-[0-3]\d", re.ASCII)


def _valid_phone(m: re.Match) -> Span | None:
    text = m.group()
    if _DATE_RE.search(text):                    # "+15 2024-01-15"
        return None
    digits = sum(ch.isdigit() for ch in text)
    if m.group("intl") is not None:
        if text.startswith("00"):
            digits -= 2
            if digits < 9:                       # "0074-29386": without the +, ask for a full-length number
                return None
        if "(0)" in text:
            digits -= 1
        if _THOUSANDS_RE.fullmatch(text):        # "+1.234.567" is an amount
            return None
        if not any(ch in " .-(" for ch in text) and digits < 10:  # "+1234567": too bare to call a phone
            return None
        return m.span() if 7 <= digits <= 15 else None
    if m.group("nat") is not None:
        return m.span() if 9 <= digits <= 11 else None
    return m.span()                              # US shapes: 10 or 11 digits by construction


# ---------------------------------------------------------------------------------------------------- credit card

_CARD_RE = _compile(r"""
    (?<![\w.+\-])(?<!\d[ \-])
    (?:
        \d{14,16}                                    # unseparated: the common lengths only (long ids are not cards)
      | \d{4}(?P<s1>[ \-])\d{4}(?P=s1)\d{4}(?P=s1)   # 4-4-4-4 (+ 3 for 19 digits, or a CVV/expiry to drop), 4-4-4-1
        (?:\d{4}(?:(?P=s1)\d{1,4})?|\d{1,3})(?!(?P=s1)\d)
      | \d{4}(?P<s2>[ \-])\d{6}(?P=s2)\d{4,5}(?!(?P=s2)\d)            # 4-6-5 (Amex), 4-6-4 (Diners)
    )
    (?![\w@])(?![.\-]\d)
""")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_network_length_ok(d: str) -> bool:
    """The number's prefix names a card network (IIN) that issues numbers of this length."""
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":                                    # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:           # Mastercard
        return n == 16
    if p2 in (34, 37):                                 # American Express
        return n == 15
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):         # Diners Club
        return 14 <= n <= 19
    if 3528 <= p4 <= 3589:                             # JCB
        return 16 <= n <= 19
    if d[0] == "6" or p2 in (50, 56, 57, 58):          # Discover, UnionPay, Maestro, RuPay
        return 16 <= n <= 19
    return False


def _valid_card(m: re.Match) -> Span | None:
    text = m.group()
    candidates = [text]
    # A grouped number may be followed by a CVV or an expiry ("4111 1111 1111 1111 123", "... 1111 12/27"): try
    # without a short last group (not without a 4-digit one: "4111 1111 1111 1111 1111" is some longer number).
    sep = m.group("s1") or m.group("s2")
    if sep and text.count(sep) >= 3 and len(text) - text.rfind(sep) <= 4:
        candidates.append(text[:text.rfind(sep)])
    for candidate in candidates:
        digits = candidate.replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and _card_network_length_ok(digits) and _luhn(digits):
            return m.start(), m.start() + len(candidate)
    return None


# ---------------------------------------------------------------------------------------------------- IBAN

# ISO 13616 registry: country -> IBAN length.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}

_IBAN_RE = _compile(r"""
    (?<![^\W_])
    [A-Z]{2}\d{2}(?:\ ?[A-Z0-9]{4}){2,7}(?:\ ?[A-Z0-9]{1,3})?
""")


def _mod97_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _valid_iban(m: re.Match) -> Span | None:
    text = m.group()
    length = IBAN_LENGTHS.get(text[:2])
    if length is None:
        return None
    # The regex may run on into a following word ("... 7034 USED"): keep exactly the country's length.
    count = 0
    for end, ch in enumerate(text, start=1):
        if ch != " ":
            count += 1
            if count == length:
                break
    else:
        return None
    following = m.string[m.start() + end:m.start() + end + 1]
    if following.isalnum():
        return None
    if not _mod97_ok(text[:end].replace(" ", "")):
        return None
    return m.start(), m.start() + end


# ---------------------------------------------------------------------------------------------------- IP address

_IP_RE = _compile(r"""
    (?:
        (?<![\w:.])
        (?P<v6>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?)
        (?![\w:])(?!\.\d)
      | (?<![\w.])
        (?P<v4>\d{1,3}(?:\.\d{1,3}){3})
        (?!\w)(?!\.\d)
    )
""")

_VERSION_CONTEXT_RE = re.compile(r"\b(?:version|release|build|firmware|ver\.?|v\.)\s*:?\s*$", re.IGNORECASE)


def _valid_ip(m: re.Match) -> Span | None:
    if m.group("v4") is not None:
        try:
            ipaddress.IPv4Address(m.group())       # octets 0-255, no leading zeros
        except ValueError:
            return None
        octets = m.group().split(".")
        if octets[0] == "0":                       # 0.x.x.x is no host's address
            return None
        if all(len(o) == 1 for o in octets) and len(set(octets)) > 1:
            return None                            # "1.2.5.8" reads as a version ("8.8.8.8" does not)
        if _VERSION_CONTEXT_RE.search(m.string[max(0, m.start() - 12):m.start()]):
            return None                            # "version 1.12.3.40"
        return m.span()
    text = m.group()
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    # "::", "::1", "a::": too little to be anyone's address (and "::" is mostly C++ scope).
    if sum(1 for group in re.split(r"[:.]", text) if group) < 2:
        return None
    return m.span()


# ---------------------------------------------------------------------------------------------------- US SSN

_SSN_RE = _compile(r"""
    (?<![\w.\-])
    (?P<area>\d{3})-(?P<group>\d{2})-(?P<serial>\d{4})
    (?![\w@])(?![.\-]\d)
""")


def _valid_ssn(m: re.Match) -> Span | None:
    area = m.group("area")
    if area in ("000", "666") or area[0] == "9":
        return None
    if m.group("group") == "00" or m.group("serial") == "0000":
        return None
    return m.span()


# ---------------------------------------------------------------------------------------------------- registry

PII_TYPES: dict[str, PiiType] = {t.name: t for t in (
    PiiType("email", "E-mail address", "<EMAIL>", 0, _EMAIL_RE, "@", _valid_email),
    PiiType("phone", "Phone number", "<PHONE>", 5, _PHONE_RE,
            r"\+[1-9]|00[1-9]|\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}|(?:^|[^\w.+\-/])\(?0[1-9]\d{0,3}\)?[ \-/]?\d{2}",
            _valid_phone),
    PiiType("credit_card", "Credit card number", "<CREDIT_CARD>", 2, _CARD_RE,
            r"\d{4}[ \-]?\d{4,6}[ \-]?\d{4}", _valid_card),
    PiiType("iban", "IBAN", "<IBAN>", 1, _IBAN_RE, r"[A-Z]{2}\d{2} ?[A-Z0-9]{4}", _valid_iban),
    PiiType("ip_address", "IP address", "<IP_ADDRESS>", 4, _IP_RE,
            r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|::|(?:[0-9A-Fa-f]{1,4}:){3}", _valid_ip),
    PiiType("us_ssn", "US social security number", "<US_SSN>", 3, _SSN_RE, r"\d{3}-\d{2}-\d{4}", _valid_ssn),
)}


def _resolve_types(types: Iterable[str] | str | None) -> list[PiiType]:
    """The requested types in priority order (most specific first); unknown names are an InvalidInput."""
    if types is None:
        chosen = list(PII_TYPES.values())
    else:
        names = [types] if isinstance(types, str) else list(types)
        unknown = [n for n in names if n not in PII_TYPES]
        if unknown:
            raise InvalidInput(f"Unknown PII type{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(repr(n) for n in unknown)}; the valid types are "
                               f"{', '.join(PII_TYPES)}.")
        chosen = [PII_TYPES[n] for n in dict.fromkeys(names)]
    return sorted(chosen, key=lambda t: t.priority)


def _find(text: str, kinds: list[PiiType]) -> list[tuple[int, int, str]]:
    """Validated, non-overlapping spans (start, end, type name) sorted by start; `kinds` in priority order."""
    taken: list[tuple[int, int, str]] = []
    for kind in kinds:
        for m in kind.pattern.finditer(text):
            span = kind.validate(m)
            if span is None:
                continue
            start, end = span
            if any(start < t_end and t_start < end for t_start, t_end, _ in taken):
                continue
            taken.append((start, end, kind.name))
    taken.sort()
    return taken


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    parts, last = [], 0
    for start, end, name in spans:
        parts.append(text[last:start])
        parts.append(PII_TYPES[name].placeholder)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _ordered_counts(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts[name] for name in PII_TYPES if counts.get(name)}


# Redaction repeats (at most this many passes) until nothing more is found: a match can hide a neighbour
# ("a@b.com555-123-4567": the phone's left edge is only clear once the address became "<EMAIL>"), and redacting
# redacted text must never find anything more.
_PASSES = 3


def redact_text(text: str, types: list[str] | None = None) -> tuple[str, dict[str, int]]:
    """`text` with each match replaced by its type's placeholder, and the matches per type (types found only)."""
    kinds = _resolve_types(types)
    if not isinstance(text, str) or not kinds:
        return text, {}
    counts: dict[str, int] = {}
    for _ in range(_PASSES):
        spans = _find(text, kinds)
        if not spans:
            break
        for _, _, name in spans:
            counts[name] = counts.get(name, 0) + 1
        text = _replace(text, spans)
    return text, _ordered_counts(counts)


# ---------------------------------------------------------------------------------------------------- Series

def _arrow_strings(values: pd.Series) -> pa.Array:
    """The series as one Arrow string array; NA and non-string values become nulls."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        try:
            strings = pa.array(values.array)
            return strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
        except (pa.ArrowException, TypeError):
            pass
    objects = values.to_numpy(dtype=object, na_value=None)
    try:
        return pa.array(objects, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, TypeError):
        return pa.array([v if isinstance(v, str) else None for v in objects], type=pa.large_string())


def _prefilter_hits(strings: pa.Array, pattern: str) -> np.ndarray:
    hit = pc.match_substring(strings, pattern) if pattern == "@" else pc.match_substring_regex(strings, pattern)
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def _candidates(strings: pa.Array, kinds: list[PiiType]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Row positions some prefilter flags, for each a bit set of the kinds (by index in `kinds`) to try, and the texts.

    One pass of all prefilters together over every row (a pass costs about the same for one pattern or six),
    then each prefilter alone over the few rows flagged.
    """
    combined = "|".join(f"(?:{kind.prefilter})" for kind in kinds)
    positions = np.flatnonzero(_prefilter_hits(strings, combined))
    if len(positions) == 0:
        return positions, positions, []
    flagged = strings.take(pa.array(positions))
    bits = np.zeros(len(positions), dtype=np.int64)
    for i, kind in enumerate(kinds):
        bits[_prefilter_hits(flagged, kind.prefilter)] |= 1 << i
    return positions, bits, flagged.to_pylist()


def _scan_strings(strings: pa.Array, kinds: list[PiiType]):
    """Yields (position, text, spans) for every row with at least one validated match."""
    if not kinds or len(strings) == 0:
        return
    positions, row_bits, texts = _candidates(strings, kinds)
    subsets: dict[int, list[PiiType]] = {}
    for position, bitset, text in zip(positions.tolist(), row_bits.tolist(), texts):
        subset = subsets.get(bitset)
        if subset is None:
            subset = subsets[bitset] = [k for i, k in enumerate(kinds) if bitset >> i & 1]
        spans = _find(text, subset)
        if spans:
            yield position, text, spans


def _scan_rows(values: pd.Series, kinds: list[PiiType]):
    if not kinds or len(values) == 0:
        return iter(())
    return _scan_strings(_arrow_strings(values), kinds)


def scan_series(values: pd.Series, types: list[str] | None = None) -> list[PiiFinding]:
    """PII found in `values`, one finding per type found, ordered by rows (most first). NA/non-strings are skipped."""
    kinds = _resolve_types(types)
    rows: dict[str, int] = {}
    matches: dict[str, int] = {}
    examples: dict[str, list[int]] = {}
    for position, _, spans in _scan_rows(values, kinds):
        seen = set()
        for _, _, name in spans:
            matches[name] = matches.get(name, 0) + 1
            if name not in seen:
                seen.add(name)
                rows[name] = rows.get(name, 0) + 1
                found = examples.setdefault(name, [])
                if len(found) < EXAMPLE_ROWS:
                    found.append(position)
    order = list(PII_TYPES)
    findings = [PiiFinding(type=name, rows=rows[name], matches=matches[name], example_rows=examples[name])
                for name in rows]
    return sorted(findings, key=lambda f: (-f.rows, order.index(f.type)))


def redact_series(values: pd.Series, types: list[str] | None = None) -> tuple[pd.Series, dict[str, int]]:
    """A copy of `values` with PII replaced by placeholders (same index; NA and non-strings untouched), and the
    matches replaced per type (types found only)."""
    kinds = _resolve_types(types)
    counts: dict[str, int] = {}
    changed: dict[int, str] = {}
    pending = list(_scan_rows(values, kinds))
    for _ in range(_PASSES):
        if not pending:
            break
        positions, texts = [], []
        for position, text, spans in pending:
            for _, _, name in spans:
                counts[name] = counts.get(name, 0) + 1
            positions.append(position)
            texts.append(_replace(text, spans))
        changed.update(zip(positions, texts))
        pending = [(positions[i], text, spans) for i, text, spans in
                   _scan_strings(pa.array(texts, type=pa.large_string()), kinds)]
    out = values.copy()
    if changed:
        if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
            out = out.astype(object)             # e.g. categorical: new strings are not among the categories
        out.iloc[list(changed)] = list(changed.values())
    return out, _ordered_counts(counts)
