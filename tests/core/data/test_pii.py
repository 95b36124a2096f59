"""PII types: real positives and near-miss negatives per type, overlaps, counts, NA handling, redaction.

Hand-run timing (prints, asserts nothing): .venv/bin/python -m tests.core.data.test_pii [rows]
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data import pii
from core.data.pii import PII_TYPES, PiiFinding, redact_series, redact_text, scan_series
from core.errors import InvalidInput


def found(text: str, types: list[str] | None = None) -> list[tuple[str, str]]:
    """(type, matched text) for every match in `text`, in order."""
    kinds = pii._resolve_types(types)
    return [(name, text[start:end]) for start, end, name in pii._find(text, kinds)]


def only(kind: str, text: str) -> str | None:
    """The one match of `kind` in `text` (None if there is none); fails on anything else found."""
    matches = found(text)
    assert all(name == kind for name, _ in matches), matches
    assert len(matches) <= 1, matches
    return matches[0][1] if matches else None


def test_registry_names_labels_and_placeholders():
    assert list(PII_TYPES) == ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn"]
    assert {t.placeholder for t in PII_TYPES.values()} == {
        "<EMAIL>", "<PHONE>", "<CREDIT_CARD>", "<IBAN>", "<IP_ADDRESS>", "<US_SSN>"}
    for name, kind in PII_TYPES.items():
        assert kind.name == name and kind.label and kind.placeholder == f"<{name.upper()}>"


# ---------------------------------------------------------------------------------------------------- e-mail

EMAIL_POSITIVES = [
    ("write to jane.doe@example.com today", "jane.doe@example.com"),
    ("first+tag@sub.example.co.uk", "first+tag@sub.example.co.uk"),
    ("JOHN_SMITH@EXAMPLE.ORG.", "JOHN_SMITH@EXAMPLE.ORG"),
    ("mailto:a.b@c.io", "a.b@c.io"),
    ("<ana-maria@mail.example.de>", "ana-maria@mail.example.de"),
    ("E-Mail: jürgen.müller@example.de.", "jürgen.müller@example.de"),   # all of it, not "mü<EMAIL>"
]


@pytest.mark.parametrize("text, expected", EMAIL_POSITIVES)
def test_email_positives(text, expected):
    assert only("email", text) == expected


EMAIL_NEGATIVES = [
    "see icon@2x.png", "@john said hi", "user@localhost", "npm i lodash@4.17.21", "a@b",
    "git clone git@github.com:org/repo.git", "50 @ 3.5 each",
]


@pytest.mark.parametrize("text", EMAIL_NEGATIVES)
def test_email_negatives(text):
    assert found(text) == []


# ---------------------------------------------------------------------------------------------------- phone

PHONE_POSITIVES = [
    ("call (555) 123-4567 now", "(555) 123-4567"),
    ("call 555-123-4567.", "555-123-4567"),
    ("call 555.123.4567", "555.123.4567"),
    ("call 555 123 4567", "555 123 4567"),
    ("call 1-800-555-0199", "1-800-555-0199"),
    ("call +1 (555) 123-4567", "+1 (555) 123-4567"),
    ("call +1-555-123-4567", "+1-555-123-4567"),
    ("London +44 20 7946 0958", "+44 20 7946 0958"),
    ("London +44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
    ("Berlin +49 30 1234567, thanks", "+49 30 1234567"),
    ("Paris +33 1 23 45 67 89", "+33 1 23 45 67 89"),
    ("mobile +4915112345678", "+4915112345678"),
    ("Tel: 0049 30 1234567", "0049 30 1234567"),
    ("Tel: 030 1234567", "030 1234567"),
    ("Tel: (030) 1234567", "(030) 1234567"),
    ("Tel: 020 7946 0958", "020 7946 0958"),
    ("Tél : 01 23 45 67 89", "01 23 45 67 89"),
]


@pytest.mark.parametrize("text, expected", PHONE_POSITIVES)
def test_phone_positives(text, expected):
    assert only("phone", text) == expected


PHONE_NEGATIVES = [
    # dates and times
    "on 2024-01-15", "on 15.01.2024", "on 01/15/2024", "on 2024/01/15", "15-01-2024 10:30", "01-15-2024 10:30",
    "at 10:30:45", "10.30-11.45", "2026-06-12 ERROR request id 123456789 failed with status 500",
    # versions
    "v2.14.1", "Python 3.11.7", "version 10.0.19041.1", "build 2024.01.15.1",
    # amounts
    "$1,234,567.89", "€1.234.567,89", "+1.234.567 EUR", "1 234 567 €", "+5%", "+20 2024",
    # order numbers and ids
    "ORD-2024-0012345", "order #123456789", "order 1234567890", "INV-555-123-4567", "ws-55439",
    "123e4567-e89b-12d3-a456-426614174000", "12345678901234", "+1234567", "+15 2024-01-15",
    # digit runs that are longer than a phone number, or part of one
    "555-123-45678", "1555-123-4567", "12345555-123-4567", "555-123-4567-89", "4111 1111 1111 1112",
    "ISBN 978-0-596-52068-7", "pages 10-20", "local 555-1234",
    "0074-29386", "0035.7.3182.87",
]


@pytest.mark.parametrize("text", PHONE_NEGATIVES)
def test_phone_negatives(text):
    assert found(text) == []


# ---------------------------------------------------------------------------------------------------- credit card

CARD_POSITIVES = [
    ("card 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
    ("card 4111111111111111", "4111111111111111"),
    ("card 5500 0000 0000 0004", "5500 0000 0000 0004"),
    ("amex 3782 822463 10005", "3782 822463 10005"),
    ("diners 3056 930902 5904", "3056 930902 5904"),
    ("discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
    ("jcb 3530 1113 3330 0000", "3530 1113 3330 0000"),
    ("visa 4222 2222 2222 2", "4222 2222 2222 2"),
    # a trailing expiry or CVV is not part of the number
    ("card 4111 1111 1111 1111 12/27", "4111 1111 1111 1111"),
    ("card 4111 1111 1111 1111 123", "4111 1111 1111 1111"),
]


@pytest.mark.parametrize("text, expected", CARD_POSITIVES)
def test_credit_card_positives(text, expected):
    assert only("credit_card", text) == expected


CARD_NEGATIVES = [
    "card 4111 1111 1111 1112",          # fails Luhn
    "card 4111111111111112",             # fails Luhn
    "id 1234567890123452",               # passes Luhn, but no card network starts with 1
    "id 8000123456789018",               # passes Luhn, no network
    "id 4111 1111 1111 1111 1111",       # 20 digits: some longer number
    "id 94111111111111111",              # the card is inside a longer run
    "id 4388823137206402109",            # passes Luhn and Visa's 19 digits, but unseparated ids that long are ids
    "id 6958 8239 497 1 3113",           # not a card's grouping
    "ts 1718000000000",
    "sha 9f86d081884c7d6541111111111111111",
]


@pytest.mark.parametrize("text", CARD_NEGATIVES)
def test_credit_card_negatives(text):
    assert found(text) == []


# ---------------------------------------------------------------------------------------------------- IBAN

IBAN_POSITIVES = [
    ("IBAN GB82 WEST 1234 5698 7654 32.", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN: DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("IBAN DE89370400440532013000", "DE89370400440532013000"),
    ("IBAN FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("IBAN NL91ABNA0417164300", "NL91ABNA0417164300"),
    ("IBAN NO93 8601 1117 947", "NO93 8601 1117 947"),
    ("IBAN MT84MALT011000012345MTLCAST001S", "MT84MALT011000012345MTLCAST001S"),
    ("BE68 5390 0754 7034 USED for rent", "BE68 5390 0754 7034"),   # the country's length, not the next word
]


@pytest.mark.parametrize("text, expected", IBAN_POSITIVES)
def test_iban_positives(text, expected):
    assert only("iban", text) == expected


IBAN_NEGATIVES = [
    "GB82 WEST 1234 5698 7654 33",       # wrong check digits
    "GB83 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 01",
    "XX89 3704 0044 0532 0130 00",       # no such country
    "DE89 3704 0044 0532 0130 0",        # too short for DE
    "NO93 8601 1117 9471",               # one character too many for NO
    "GB82WEST12345698765432X",
]


@pytest.mark.parametrize("text", IBAN_NEGATIVES)
def test_iban_negatives(text):
    assert found(text) == []


# ---------------------------------------------------------------------------------------------------- IP address

IP_POSITIVES = [
    ("server 192.168.1.20 is down", "192.168.1.20"),
    ("host 10.0.0.1:8080", "10.0.0.1"),
    ("http://203.0.113.5/path", "203.0.113.5"),
    ("ip:255.255.255.255.", "255.255.255.255"),
    ("dns 8.8.8.8", "8.8.8.8"),
    ("v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 here", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("v6 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
    ("link-local fe80::1%eth0", "fe80::1"),
    ("mapped ::ffff:192.0.2.1", "::ffff:192.0.2.1"),
    ("[2001:db8::1]:443", "2001:db8::1"),
]


@pytest.mark.parametrize("text, expected", IP_POSITIVES)
def test_ip_positives(text, expected):
    assert only("ip_address", text) == expected


IP_NEGATIVES = [
    "256.1.1.1", "192.168.1.300", "1.2.3", "10.0.0", "1.2.3.4.5", "192.168.001.001", "version 1.12.3.40",
    "release 4.7.2.1", "0.4.6.4",
    "v1.2.3.4", "std::vector<int>", "Foo::Bar", "at 12:30:45", "MAC 00:1A:2B:3C:4D:5E", "::1", "a:b",
]


@pytest.mark.parametrize("text", IP_NEGATIVES)
def test_ip_negatives(text):
    assert found(text) == []


# ---------------------------------------------------------------------------------------------------- US SSN

@pytest.mark.parametrize("ssn, valid", [
    ("123-45-6789", True), ("078-05-1120", True), ("899-99-9999", True),
    ("000-12-3456", False), ("666-12-3456", False), ("900-12-3456", False), ("999-45-6789", False),
    ("123-00-4567", False), ("123-45-0000", False),
])
def test_us_ssn_rules(ssn, valid):
    assert only("us_ssn", f"SSN {ssn} on file") == (ssn if valid else None)


@pytest.mark.parametrize("text", ["1123-45-6789", "123-45-67890", "123-45-6789-1", "A123-45-6789", "123 45 6789"])
def test_us_ssn_not_inside_longer_numbers(text):
    assert found(text) == []


# ---------------------------------------------------------------------------------------------------- overlaps

def test_overlapping_spans_are_reported_once_by_the_most_specific_type():
    # Every one of these also looks like a phone number (or part of one) to a looser eye.
    assert found("card 4111 1111 1111 1111") == [("credit_card", "4111 1111 1111 1111")]
    assert found("IBAN DE89 3704 0044 0532 0130 00") == [("iban", "DE89 3704 0044 0532 0130 00")]
    assert found("mail 5551234567.x@example.com") == [("email", "5551234567.x@example.com")]
    assert found("host 192.168.100.200") == [("ip_address", "192.168.100.200")]
    # ... and restricting the types does not make the less specific type grab them.
    assert found("card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00", ["phone"]) == []
    assert found("mail 555-123-4567@example.com", ["phone", "us_ssn"]) == []
    assert found("mail 123-45-6789@example.com or 4111111111111111@example.com", ["us_ssn", "credit_card"]) == []


def test_spans_resolve_in_priority_order():
    kinds = pii._resolve_types(None)
    assert [k.name for k in kinds] == ["email", "iban", "credit_card", "us_ssn", "ip_address", "phone"]


# ---------------------------------------------------------------------------------------------------- redact_text

TICKET = (
    "Hi support,\n"
    "I'm Jane Doe (jane.doe@example.com, +1 (555) 123-4567). My card 4111 1111 1111 1111 exp 12/27 was charged "
    "twice on 2024-01-15 at 10:32 for order ORD-2024-0012345 ($1,299.00).\n"
    "App version 2.14.3 on build 10.0.19041.1; our VPN gives me 203.0.113.7 and 2001:db8::8a2e:370:7334.\n"
    "Refund to GB82 WEST 1234 5698 7654 32 please. SSN 123-45-6789 if needed; request id 123456789.\n"
    "Thanks, Jane"
)


def test_a_realistic_ticket_is_redacted_around_the_pii_only():
    text, counts = redact_text(TICKET)
    assert text == (
        "Hi support,\n"
        "I'm Jane Doe (<EMAIL>, <PHONE>). My card <CREDIT_CARD> exp 12/27 was charged "
        "twice on 2024-01-15 at 10:32 for order ORD-2024-0012345 ($1,299.00).\n"
        "App version 2.14.3 on build 10.0.19041.1; our VPN gives me <IP_ADDRESS> and <IP_ADDRESS>.\n"
        "Refund to <IBAN> please. SSN <US_SSN> if needed; request id 123456789.\n"
        "Thanks, Jane"
    )
    assert counts == {"email": 1, "phone": 1, "credit_card": 1, "iban": 1, "ip_address": 2, "us_ssn": 1}
    assert list(counts) == [n for n in PII_TYPES if n in counts]


def test_redact_text_limited_to_types_and_without_findings():
    text, counts = redact_text(TICKET, ["email", "us_ssn"])
    assert counts == {"email": 1, "us_ssn": 1}
    assert "<EMAIL>" in text and "<US_SSN>" in text and "4111 1111 1111 1111" in text
    assert redact_text("Nothing personal, version 1.2.3 on 2024-01-15.") == (
        "Nothing personal, version 1.2.3 on 2024-01-15.", {})
    assert redact_text(TICKET, []) == (TICKET, {})
    assert redact_text("", None) == ("", {})


def test_redaction_is_idempotent():
    once, counts = redact_text(TICKET)
    assert counts
    assert redact_text(once) == (once, {})
    texts = pd.Series(_corpus(400, seed=3, share=0.5))
    redacted, counts = redact_series(texts)
    assert sum(counts.values()) > 100
    assert scan_series(redacted) == []
    again, more = redact_series(redacted)
    assert more == {} and again.equals(redacted)


def test_unknown_types_are_invalid_input_naming_the_valid_ones():
    with pytest.raises(InvalidInput, match=r"'passport'.*email, phone, credit_card, iban, ip_address, us_ssn"):
        redact_text("x", ["email", "passport"])
    with pytest.raises(InvalidInput, match="Unknown PII types 'a', 'b'"):
        scan_series(pd.Series(["x"]), ["a", "b"])
    with pytest.raises(InvalidInput):
        redact_series(pd.Series(["x"]), ["Email"])
    assert redact_text("a@example.com", "email") == ("<EMAIL>", {"email": 1})   # one name on its own is fine


# ---------------------------------------------------------------------------------------------------- Series

def test_scan_series_counts_rows_matches_and_example_positions():
    values = pd.Series(
        ["a@example.com and b@example.com", "nothing", "call 555-123-4567", None, "c@example.com",
         "d@example.com", "e@example.com", "f@example.com", "g@example.com 555.123.4567"],
        index=[90, 80, 70, 60, 50, 40, 30, 20, 10],        # example_rows are positions, not labels
    )
    findings = scan_series(values)
    assert findings == [
        PiiFinding(type="email", rows=6, matches=7, example_rows=[0, 4, 5, 6, 7]),
        PiiFinding(type="phone", rows=2, matches=2, example_rows=[2, 8]),
    ]
    assert scan_series(values, ["phone"]) == [findings[1]]
    assert scan_series(values, []) == []
    assert scan_series(pd.Series([], dtype="str")) == []
    assert scan_series(pd.Series(["nothing", "here"])) == []


def test_findings_are_ordered_by_rows_then_registry_order():
    values = pd.Series(["10.0.0.1", "10.0.0.2", "a@example.com", "123-45-6789"])
    assert [(f.type, f.rows) for f in scan_series(values)] == [("ip_address", 2), ("email", 1), ("us_ssn", 1)]


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_na_and_non_strings_are_skipped_and_left_alone(dtype):
    if dtype is object:
        values = pd.Series(["x a@example.com", None, np.nan, pd.NA, 42, 4111111111111111, 3.5, b"a@example.com",
                            "call 555-123-4567"], index=list("abcdefghi"), dtype=object)
    else:
        values = pd.Series(["x a@example.com", None, "call 555-123-4567"], index=list("abc"), dtype=dtype)
    findings = scan_series(values)
    assert {(f.type, f.rows) for f in findings} == {("email", 1), ("phone", 1)}
    redacted, counts = redact_series(values)
    assert counts == {"email": 1, "phone": 1}
    assert redacted.dtype == values.dtype and redacted.index.equals(values.index)
    assert redacted.iloc[0] == "x <EMAIL>" and redacted.iloc[-1] == "call <PHONE>"
    assert redacted.isna().equals(values.isna())
    if dtype is object:
        assert redacted.iloc[4:8].tolist() == [42, 4111111111111111, 3.5, b"a@example.com"]
    assert values.iloc[0] == "x a@example.com"              # the input is not modified


def test_redact_series_of_categories_and_without_findings():
    values = pd.Series(["a@example.com", "plain", "a@example.com"], dtype="category")
    redacted, counts = redact_series(values)
    assert redacted.tolist() == ["<EMAIL>", "plain", "<EMAIL>"] and counts == {"email": 2}
    plain = pd.Series(["nothing", None])
    same, counts = redact_series(plain)
    assert counts == {} and same.equals(plain) and same is not plain


def test_prefilters_never_hide_a_finding():
    """Series results (vectorised prefilters) agree with running every regex on every row."""
    examples = [text for text, _ in EMAIL_POSITIVES + PHONE_POSITIVES + CARD_POSITIVES + IBAN_POSITIVES + IP_POSITIVES]
    examples += EMAIL_NEGATIVES + PHONE_NEGATIVES + CARD_NEGATIVES + IBAN_NEGATIVES + IP_NEGATIVES
    texts = _corpus(1500, seed=11, share=0.4) + POSITIVES + NEGATIVES + examples
    values = pd.Series(texts)
    kinds = pii._resolve_types(None)
    expected_rows: dict[str, list[int]] = {}
    expected_matches: dict[str, int] = {}
    for i, text in enumerate(texts):
        names = [name for _, _, name in pii._find(text, kinds)]
        for name in names:
            expected_matches[name] = expected_matches.get(name, 0) + 1
        for name in set(names):
            expected_rows.setdefault(name, []).append(i)
    got = {f.type: f for f in scan_series(values)}
    assert set(got) == set(expected_rows) == set(PII_TYPES)
    for name, finding in got.items():
        assert finding.rows == len(expected_rows[name]) and finding.matches == expected_matches[name]
        assert finding.example_rows == expected_rows[name][:5]
    redacted, _ = redact_series(values)
    assert redacted.tolist() == [redact_text(t)[0] for t in texts]


# ---------------------------------------------------------------------------------------------------- corpus

POSITIVES = [
    "reach me at jane.doe@example.com", "call +49 30 1234567", "call (555) 123-4567", "call 555.123.4567",
    "card 4111 1111 1111 1111", "card 3782 822463 10005", "IBAN DE89 3704 0044 0532 0130 00",
    "IBAN GB82WEST12345698765432", "from 203.0.113.9", "from fe80::1ff:fe23:4567:890a", "SSN 123-45-6789",
    "Tel 020 7946 0958", "0049 30 1234567",
]
NEGATIVES = [
    "on 2024-01-15 at 10:30:45", "version 1.2.3.4", "order ORD-2024-0012345", "request id 123456789",
    "card 4111 1111 1111 1112", "IBAN GB82 WEST 1234 5698 7654 33", "ip 256.1.1.1", "ssn 666-12-3456",
    "std::map", "icon@2x.png", "total $1,234.56", "+1.234.567",
]
BODIES = [
    "Hi team, my export to CSV fails since the update to version {ver} on {date} at {time}.",
    "Order {order} was charged {amount} twice, please refund the difference before {date}.",
    "The API returns 429 after {n} requests per minute; request id {rid} failed with status 500.",
    "Login loops back to the start page in Chrome {ver}; cleared cookies, still broken since {date}.",
    "Invoice INV-{n} shows the wrong VAT rate (19% instead of 7%), total {amount}.",
    "Our workspace ws-{n} cannot invite new members, the button is greyed out after {time}.",
    "Upgraded from plan Pro to Team on {date}; the seat count still says {n} seats.",
    "Prompt: summarise the following ticket in two sentences and suggest a fix for build {ver}.",
]
SNIPPETS = [
    " You can reach me at {first}.{last}@example.com.",
    " Please call me back on +49 30 {d7}.",
    " The card that was charged is 4111 1111 1111 1111.",
    " Refund to my account DE89 3704 0044 0532 0130 00 please.",
    " Our server's address is 203.0.113.{octet}.",
    " My phone is ({d3}) {d3}-{d4}.",
    " SSN on file: 123-45-{d4}.",
    " Or the office: 030 {d7}.",
]


def _corpus(rows: int, seed: int = 0, share: float = 0.05) -> list[str]:
    """Support-ticket-like texts (~200 chars) full of dates, times, versions, amounts and ids; `share` carry PII."""
    rng = np.random.default_rng(seed)
    first = ["jane", "omar", "li", "sven"]
    last = ["doe", "haddad", "wei", "berg"]
    out = []
    for _ in range(rows):
        fill = dict(ver=f"{rng.integers(1, 20)}.{rng.integers(0, 30)}.{rng.integers(0, 9)}",
                    date=f"2026-0{rng.integers(1, 9)}-{rng.integers(10, 28)}",
                    time=f"{rng.integers(10, 23)}:{rng.integers(10, 59)}",
                    order=f"ORD-2026-{rng.integers(100000, 999999)}",
                    amount=f"${rng.integers(10, 999)}.{rng.integers(10, 99)}",
                    n=int(rng.integers(20, 99999)), rid=int(rng.integers(1e8, 1e9)))
        text = " ".join(BODIES[rng.integers(0, len(BODIES))].format(**fill) for _ in range(2))
        if rng.random() < share:
            snippet = SNIPPETS[rng.integers(0, len(SNIPPETS))].format(
                first=first[rng.integers(0, 4)], last=last[rng.integers(0, 4)], d7=rng.integers(1000000, 9999999),
                octet=rng.integers(1, 254), d3=rng.integers(200, 999), d4=rng.integers(1000, 9999))
            cut = int(rng.integers(0, 2)) * len(text) // 2        # at the end, or in the middle of the text
            text = text[:cut] + snippet + " " + text[cut:]
        out.append(text + " Thanks, Jane")
    return out


if __name__ == "__main__":
    import sys
    import time

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    texts = _corpus(rows, seed=0, share=0.05)
    for label, series in (("str (Arrow) dtype", pd.Series(texts)), ("object dtype", pd.Series(texts, dtype=object))):
        for action in (scan_series, redact_series):
            start = time.perf_counter()
            result = action(series)
            seconds = time.perf_counter() - start
            summary = ({f.type: f.rows for f in result} if action is scan_series else result[1])
            print(f"{action.__name__:>13} {rows:,} rows, {label}: {seconds:.3f} s  {summary}")
