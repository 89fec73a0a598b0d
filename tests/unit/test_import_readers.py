"""The streaming readers of import documents: MailUp's XML (spec 2.2) and pipe CSV (spec 7.1).
A bad row is rejected with its problem; only a bad document raises."""
from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator

import pytest

from mailup_soap import errors
from mailup_soap.db.import_staging import BLOCK_EOL, DELIMITER
from mailup_soap.domain.import_readers import (
    ABSENT,
    StagedRow,
    _contact,
    read_csv,
    read_xml,
    read_xml_string,
    staged,
)
from mailup_soap.domain.imports import ImportOptions

DEFAULT = ImportOptions()


def _doc(*rows: str) -> str:
    return "<subscribers>" + "".join(rows) + "</subscribers>"


def _row(email: str = "", number: str = "", prefix: str = "", body: str = "") -> str:
    return (f'<subscriber email="{email}" Prefix="{prefix}" Number="{number}" Name="">'
            f"{body}</subscriber>")


def _read(document: str, opts: ImportOptions = DEFAULT) -> list[StagedRow]:
    return [staged(row) for row in read_xml_string(document, opts)]


# -- XML rows --------------------------------------------------------------------------------


def test_xml_rows_carry_email_mobile_and_campo_fields_numbered_from_one() -> None:
    rows = _read(_doc(
        _row("ann@example.test", "+393331234567",
             body="<campo1>Ann</campo1><campo2>Smith</campo2><campo39>last</campo39>"),
        _row("bob@example.test", body="<campo1>Bob</campo1>")))

    assert rows == [
        StagedRow(1, "ann@example.test", "+393331234567", {1: "Ann", 2: "Smith", 39: "last"}),
        StagedRow(2, "bob@example.test", None, {1: "Bob"})]


def test_an_empty_element_is_a_present_empty_field_and_a_missing_one_is_absent() -> None:
    [row] = _read(_doc(_row("ann@example.test",
                            body="<campo1></campo1><campo2/><campo4>x</campo4>")))

    assert row.fields == {1: "", 2: "", 4: "x"}
    assert 3 not in row.fields


def test_values_in_cdata_are_read_as_text() -> None:
    [row] = _read(_doc(_row("ann@example.test",
                            body="<campo1><![CDATA[Ann & <Co> | \"x\"]]></campo1>")))

    assert row.fields == {1: 'Ann & <Co> | "x"'}


def test_an_unknown_campo40_rejects_the_row_not_the_document() -> None:
    rows = _read(_doc(_row("a@example.test", body="<campo40>x</campo40>"),
                      _row("b@example.test", body="<campo1>ok</campo1>")))

    assert rows[0].problem == "unknown field campo40"
    assert (rows[0].email, rows[0].fields) == (None, {})
    assert rows[1] == StagedRow(2, "b@example.test", None, {1: "ok"})


def test_an_invalid_email_rejects_the_row_with_an_email_problem() -> None:
    rows = _read(_doc(_row("not-an-email"), _row("ok@example.test")))

    assert rows[0].row_no == 1 and rows[0].email is None
    assert rows[0].problem is not None and rows[0].problem.startswith("Email")
    assert rows[1].problem is None


def test_an_invalid_mobile_rejects_the_row_with_an_sms_problem() -> None:
    [row] = _read(_doc(_row("ok@example.test", number="12ab")))

    assert row.problem is not None and row.problem.startswith("Sms")
    assert row.email is None and row.mobile_number is None


def test_a_row_without_email_or_mobile_is_rejected() -> None:
    [row] = _read(_doc(_row(body="<campo1>Ann</campo1>")))

    assert row.problem == "no email address or mobile number"


def test_a_field_longer_than_the_limit_is_rejected() -> None:
    [row] = _read(_doc(_row("ann@example.test", body=f"<campo1>{'x' * 201}</campo1>")))

    assert row.problem is not None and "campo1" in row.problem


def test_of_several_fields_too_long_the_lowest_is_named_whatever_their_order() -> None:
    [row] = _read(_doc(_row("ann@example.test", body=f"<campo9>{'x' * 201}</campo9>"
                                                     f"<campo4>{'y' * 201}</campo4>")))
    [csv_row] = _csv("9|111|4", f"{'x' * 201}|bob@example.test|{'y' * 201}")

    assert row.problem == csv_row.problem == "campo4 longer than 200"


def test_import_type_1_keeps_email_only_and_drops_the_mobile() -> None:
    rows = _read(_doc(_row("ann@example.test", "+393331234567"), _row(number="+393337654321")),
                 ImportOptions(import_type=1))

    assert (rows[0].email, rows[0].mobile_number, rows[0].problem) == (
        "ann@example.test", None, None)
    assert rows[1].problem == "no email address or mobile number"


def test_import_type_2_keeps_the_mobile_only_and_drops_the_email() -> None:
    rows = _read(_doc(_row("ann@example.test", "+393331234567"), _row("bob@example.test")),
                 ImportOptions(import_type=2))

    assert (rows[0].email, rows[0].mobile_number, rows[0].problem) == (
        None, "+393331234567", None)
    assert rows[1].problem == "no email address or mobile number"


@pytest.mark.parametrize("import_type", [4, 5, 6])
def test_import_types_4_to_6_drop_the_same_channels_as_1_to_3(import_type: int) -> None:
    [row] = _read(_doc(_row("ann@example.test", "+393331234567")),
                  ImportOptions(import_type=import_type))
    [same] = _read(_doc(_row("ann@example.test", "+393331234567")),
                   ImportOptions(import_type=import_type - 3))

    assert row == same


@pytest.mark.parametrize(("prefix", "number"), [
    ("+39", "3331234567"), ("0039", "3331234567"), ("39", "333 123 4567"),
    ("+39", "333-123-4567")])
def test_mobile_input_type_2_joins_prefix_and_number(prefix: str, number: str) -> None:
    [row] = _read(_doc(_row(number=number, prefix=prefix)), ImportOptions(mobile_input_type=2))

    assert (row.mobile_number, row.problem) == ("+393331234567", None)


def test_mobile_input_type_1_ignores_the_prefix_attribute() -> None:
    [row] = _read(_doc(_row(number="+393331234567", prefix="+44")))

    assert row.mobile_number == "+393331234567"


@pytest.mark.parametrize("number", ["00393331234567", "+39 333 1234567", "393331234567"])
def test_a_number_with_its_international_prefix_is_normalized(number: str) -> None:
    [row] = _read(_doc(_row(number=number)))

    assert row.mobile_number == "+393331234567"


_ROWS = [("ann@example.test", "", "<campo1> Ann </campo1><campo2></campo2>"),
         (" bob@example.test ", "", ""),
         ("ann@example.test", "+393331234567", "<campo3>x</campo3>"),
         ("not-an-address", "", "<campo1>x</campo1>"),
         ("josé@example.test", "", ""),
         ("a" * 250 + "@example.test", "", ""),
         ("", "", "<campo1>nobody</campo1>"),
         ("", "+393331234567", ""),
         ("eve@example.test", "", f"<campo4>{'y' * 201}</campo4>"),
         ("not-an-address", "", f"<campo4>{'y' * 201}</campo4>"),
         ("eve@example.test", " ", "")]


@pytest.mark.parametrize("import_type", range(1, 7))
def test_every_xml_row_is_read_as_the_general_contact_check_reads_it(import_type: int) -> None:
    """The reader takes rows with a valid email and no number without `_contact`: for any
    row and import type, it must give what `_contact` gives."""
    opts = ImportOptions(import_type=import_type)
    rows = _read(_doc(*(_row(email, number, body=body) for email, number, body in _ROWS)),
                 opts)

    expected = []
    for row_no, (email, number, body) in enumerate(_ROWS, 1):
        fields = {int(n): v.strip() for n, v in re.findall(r"<campo(\d+)>([^<]*)<", body)}
        expected.append(_contact(row_no, email, "", number, fields, opts))
    assert rows == expected
    if import_type % 3 != 2:  # not numbers only: the valid addresses are taken
        assert [r.email for r in rows[:3]] == ["ann@example.test", "bob@example.test",
                                               "ann@example.test"]


def test_a_row_with_a_valid_email_and_no_number_comes_as_a_plain_row() -> None:
    rows = list(read_xml_string(_doc(_row("ann@example.test", body="<campo2>Ann</campo2>"
                                                                   "<campo1/>"),
                                     _row("bob@example.test", "+393331234567")), DEFAULT))

    assert rows[0] == (1, "ann@example.test", ["", "Ann", *[ABSENT] * 37])
    assert staged(rows[0]) == StagedRow(1, "ann@example.test", None, {1: "", 2: "Ann"})
    assert isinstance(rows[1], StagedRow) and staged(rows[1]) is rows[1]


# The characters the staging of PlainRows writes in their COPY text as its own (db.import_staging:
# the delimiter, NULL and the line end of a block): no value read from XML can hold them.
RESERVED = {"absent (NULL)": ABSENT, "delimiter": DELIMITER, "line end": BLOCK_EOL}


@pytest.mark.parametrize("char", RESERVED.values(), ids=RESERVED.keys())
def test_no_xml_value_can_hold_a_character_the_staging_reserves(char: str) -> None:
    ref = f"&#{ord(char)};"
    for document in (_doc(_row("ann@example.test", body=f"<campo1>a{char}b</campo1>")),
                     _doc(_row("ann@example.test", body=f"<campo1>a{ref}b</campo1>")),
                     _doc(_row("ann@example.test", body=f"<campo1><![CDATA[{char}]]></campo1>")),
                     _doc(_row(f"ann{ref}@example.test"))):
        with pytest.raises(errors.ImportDocumentInvalid):
            _read(document)


def test_rows_are_numbered_in_document_order_including_rejected_ones() -> None:
    rows = _read(_doc(_row("a@example.test"), _row("bad"), _row("c@example.test")))

    assert [r.row_no for r in rows] == [1, 2, 3]


def test_a_document_without_subscribers_has_no_rows() -> None:
    assert _read("<subscribers/>") == []


# -- XML documents that are refused as a whole -----------------------------------------------

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'
                            .replace("&lol0;", "&lol;") for i in range(1, 10))
                  + ']><subscribers><subscriber email="a@example.test"><campo1>&lol9;</campo1>'
                  "</subscriber></subscribers>")

HOSTILE = {
    "doctype": "<!DOCTYPE subscribers><subscribers>" + _row("a@example.test") + "</subscribers>",
    "internal entity": ('<!DOCTYPE s [<!ENTITY x "y">]><subscribers>'
                        '<subscriber email="a@example.test"><campo1>&x;</campo1></subscriber>'
                        "</subscribers>"),
    "external entity": ('<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><subscribers>'
                        '<subscriber email="a@example.test"><campo1>&x;</campo1></subscriber>'
                        "</subscribers>"),
    "billion laughs": BILLION_LAUGHS,
    "300 deep": "<subscribers>" + "<a>" * 300 + "</a>" * 300 + "</subscribers>",
    "not xml": "this is not xml",
    "truncated": "<subscribers><subscriber email=",
    "other root": "<people><subscriber email='a@example.test'/></people>",
}


@pytest.mark.parametrize("document", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_or_foreign_documents_are_invalid(document: str) -> None:
    with pytest.raises(errors.ImportDocumentInvalid):
        _read(document)


@pytest.mark.parametrize("document", ["", "   \n\t ", None])
def test_an_empty_document_is_empty_not_invalid(document: str | None) -> None:
    with pytest.raises(errors.ImportDocumentEmpty):
        read_xml_string(document, DEFAULT)


def test_a_document_may_start_with_an_xml_declaration_and_whitespace() -> None:
    rows = _read('\n  <?xml version="1.0" encoding="utf-8"?>\n' + _doc(_row("a@example.test")))

    assert [r.email for r in rows] == ["a@example.test"]


# -- memory ----------------------------------------------------------------------------------


class _GeneratedFile(io.RawIOBase):
    """A read-only file whose bytes come from a generator: the document never exists whole."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        if not self._buffer:
            self._buffer = next(self._chunks, b"")
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _big_document(rows: int, nesting: str = "{}", rows_per_chunk: int = 500) -> Iterator[bytes]:
    """<subscribers> with `rows` subscribers nested as `nesting` says, `EACH` or `EACH|ALL`:
    each subscriber inside EACH (`<g>{}</g>`: an element of its own), all of them inside
    ALL (`<g>{}</g>`: one element)."""
    each, _, around = nesting.partition("|")
    head, _, tail = (around or "{}").partition("{}")
    yield f"<subscribers>{head}".encode()
    for start in range(0, rows, rows_per_chunk):
        yield "".join(each.format(
            f'<subscriber email="u{n}@example.test" Prefix="" Number="+39333{n:07d}" Name="">'
            f"<campo1>First {n}</campo1><campo2>Last {n}</campo2><campo3/></subscriber>")
            for n in range(start, min(start + rows_per_chunk, rows))).encode()
    yield f"{tail}</subscribers>".encode()


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# Rows straight under the root; all inside one element; each inside one or two of its own.
NESTINGS = {"flat": "{}", "one group": "{}|<g>{}</g>", "a group each": "<g>{}</g>",
            "two levels each": "<a><b>{}</b></a>"}


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
@pytest.mark.parametrize("nesting", NESTINGS.values(), ids=NESTINGS.keys())
def test_reading_200000_rows_keeps_memory_flat(nesting: str) -> None:
    # Resident memory, not tracemalloc: libxml2 allocates the tree with its own malloc, which
    # tracemalloc never sees (an iterparse that frees nothing peaks under 1 MB there while
    # its resident size grows by ~90 MB per 50,000 rows of this document).
    rows = 200_000
    source = io.BufferedReader(_GeneratedFile(_big_document(rows, nesting)), 1 << 16)
    before = _resident_bytes()
    seen = valid = growth = 0
    for row in read_xml(source, DEFAULT):
        seen += 1
        valid += staged(row).problem is None
        if seen % 5_000 == 0:
            growth = max(growth, _resident_bytes() - before)

    assert (seen, valid) == (rows, rows)
    assert growth < 30 * 1024 * 1024, f"resident memory grew by {growth / 1e6:.1f} MB"


# -- CSV (spec 7.1) --------------------------------------------------------------------------


def _csv(*lines: str, opts: ImportOptions = DEFAULT) -> list[StagedRow]:
    return list(read_csv([line + "\n" for line in lines], opts))


def test_csv_reads_the_pipe_format_with_a_header_of_field_ids() -> None:
    rows = _csv("1|2|111|444",
                "Ann|Smith|ann@example.test|+393331234567",
                "Bob||bob@example.test|")

    assert rows == [
        StagedRow(2, "ann@example.test", "+393331234567", {1: "Ann", 2: "Smith"}),
        StagedRow(3, "bob@example.test", None, {1: "Bob", 2: ""})]


def test_csv_joins_prefix_222_and_number_333() -> None:
    [row] = _csv("111|222|333", "ann@example.test|0039|3331234567")

    assert row.mobile_number == "+393331234567"


def test_csv_rows_with_the_wrong_column_count_are_rejected_with_their_line() -> None:
    rows = _csv("1|111", "Ann|ann@example.test", "Bob|bob@example.test|extra",
                "Cy", "Di|di@example.test")

    assert [(r.row_no, r.problem) for r in rows] == [
        (2, None), (3, "3 columns where the header has 2"),
        (4, "1 columns where the header has 2"), (5, None)]


def test_csv_blank_lines_are_skipped_but_still_counted_as_lines() -> None:
    rows = _csv("111", "a@example.test", "", "b@example.test")

    assert [(r.row_no, r.email) for r in rows] == [(2, "a@example.test"), (4, "b@example.test")]


def test_csv_a_row_number_is_its_line_even_after_a_quoted_value_spanning_lines() -> None:
    lines = ["1|111\n", '"two\n', 'lines"|a@example.test\n', "Bo|b@example.test\n"]

    rows = list(read_csv(lines, DEFAULT))

    assert [(r.row_no, r.email) for r in rows] == [(2, "a@example.test"),
                                                   (4, "b@example.test")]


@pytest.mark.parametrize("header", ["1,2,111", "111;1", "111\t1"])
def test_csv_with_another_separator_is_refused_with_the_reason(header: str) -> None:
    with pytest.raises(errors.ImportDocumentInvalid, match="not separated by '\\|'"):
        _csv(header, "x")


def test_csv_a_column_given_twice_is_refused() -> None:
    with pytest.raises(errors.ImportDocumentInvalid, match="twice"):
        _csv("111|1|1", "a@example.test|x|y")


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1b", "\ufffe"])
def test_csv_a_control_character_rejects_its_row_not_the_file(bad: str) -> None:
    # PostgreSQL refuses NUL; none of them could be given back in a SOAP or XML answer.
    rows = _csv("111|1", f"a@example.test|x{bad}y", "b@example.test|z\tw")

    assert [(r.row_no, r.email, r.problem) for r in rows] == [
        (2, None, "a control character in the row"), (3, "b@example.test", None)]


def test_csv_invalid_email_rejects_the_row() -> None:
    [row] = _csv("1|111", "Ann|nope")

    assert row.problem is not None and row.problem.startswith("Email")


@pytest.mark.parametrize("header", ["1|999|111", "40|111", "111|email", "0|111"])
def test_csv_an_unknown_header_id_makes_the_document_invalid(header: str) -> None:
    with pytest.raises(errors.ImportDocumentInvalid):
        _csv(header, "x|y|z")


@pytest.mark.parametrize("header", ["1|2", "1|222"])
def test_csv_without_an_email_or_mobile_column_is_invalid(header: str) -> None:
    with pytest.raises(errors.ImportDocumentInvalid):
        _csv(header, "a|b")


@pytest.mark.parametrize("header", ["333|1", "444"])
def test_csv_with_a_mobile_column_only_is_fine(header: str) -> None:
    rows = _csv(header, "+393331234567" + ("|Ann" if "|" in header else ""))

    assert [(r.email, r.mobile_number, r.problem) for r in rows] == [
        (None, "+393331234567", None)]


def test_an_empty_csv_is_empty() -> None:
    with pytest.raises(errors.ImportDocumentEmpty):
        list(read_csv([], DEFAULT))
