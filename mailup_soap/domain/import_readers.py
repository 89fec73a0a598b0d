"""Streaming readers of import documents: MailUp's XML (`<subscribers><subscriber ...>`)
and MailUp's pipe-separated CSV (header of field ids). Each yields one `StagedRow` per
contact, valid or not; nothing is held in memory beyond the current row."""
from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lxml import etree

from mailup_soap import errors
from mailup_soap.domain.contacts import (
    FIELD_MAX,
    MOBILE_PUNCTUATION,
    NOT_XML,
    is_email,
    normalize_email,
    normalize_mobile,
)
from mailup_soap.domain.imports import Channels, ImportOptions
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT

CAMPO = re.compile(r"^campo(\d{1,2})$", re.IGNORECASE)
# MailUp CSV column ids (spec 7.1).
EMAIL_COLUMN, PREFIX_COLUMN, NUMBER_COLUMN, FULL_MOBILE_COLUMN = "111", "222", "333", "444"


# Not frozen: a frozen dataclass's __init__ goes through object.__setattr__ per field, 4x
# the cost of this one, paid once per imported row. Rows are built here and only read after.
@dataclasses.dataclass(slots=True)
class StagedRow:
    row_no: int
    email: str | None
    mobile_number: str | None  # "+<prefix><number>", see contacts.normalize_mobile
    fields: dict[int, str]  # present fields only; "" = present but empty
    problem: str | None = None
    extra: dict[str, str] = dataclasses.field(default_factory=dict)  # e.g. CSV status/groups


# The commonest row of an XML document, yielded without a StagedRow: (row number, a valid
# email, the fields by position, ABSENT where the row has no such element). It gives no
# mobile number and has no problem. Building a StagedRow, the dict of its fields and the
# COPY line read back from them cost about a fifth of the reading of such a row; a PlainRow
# goes to the COPY text as it is (db.import_staging). `staged(row)` is its StagedRow.
PlainRow = tuple[int, str, list[str]]
ReaderRow = StagedRow | PlainRow

# A field a PlainRow does not give: a control character that no XML text can hold (XML 1.0
# has no such character, not even as a reference), so it never stands for a value.
ABSENT = "\x1a"
_NO_FIELDS = [ABSENT] * PERSONAL_FIELD_COUNT


def staged(row: ReaderRow) -> StagedRow:
    """The row as a StagedRow, whichever form the reader gave it in."""
    if isinstance(row, StagedRow):
        return row
    row_no, email, fields = row
    return StagedRow(row_no, email, None, _given(fields))


def _given(fields: list[str]) -> dict[int, str]:
    return {field_id: value for field_id, value in enumerate(fields, 1) if value != ABSENT}


def _contact(row_no: int, email: str | None, prefix: str | None, number: str | None,
             fields: dict[int, str], opts: ImportOptions,
             extra: dict[str, str] | None = None, channels: Channels | None = None) -> StagedRow:
    """Validate one contact; a bad value makes the row rejected, not the import."""
    try:
        if opts.mobile_input_type == 2 and (number or "").strip():
            digits = re.sub(r"\D", "", prefix or "", flags=re.ASCII).removeprefix("00")
            number = "+" + digits + MOBILE_PUNCTUATION.sub("", number or "")
        mobile = normalize_mobile(number) if number else None
        clean_email = normalize_email(email)
    except errors.InvalidContact as exc:
        return StagedRow(row_no, None, None, {}, f"{exc.name}: {exc.reason}", extra or {})
    channels = channels or opts.channels
    if channels is Channels.EMAIL:
        mobile = None
    elif channels is Channels.SMS:
        clean_email = None
    if clean_email is None and mobile is None:
        return StagedRow(row_no, None, None, {}, "no email address or mobile number",
                         extra or {})
    too_long = [field_id for field_id, value in fields.items() if len(value) > FIELD_MAX]
    if too_long:  # the lowest field named, whatever order the row gives them in
        return StagedRow(row_no, None, None, {}, f"campo{min(too_long)} longer than {FIELD_MAX}",
                         extra or {})
    return StagedRow(row_no, clean_email, mobile[1] if mobile else None, fields, None,
                     extra or {})


def _secure_iterparse(source: IO[bytes]) -> Any:
    # No DTD, no entities, no network, libxml2's size and depth limits kept (huge_tree off).
    # Only the end of each <subscriber> reaches Python: the other elements cost nothing here.
    return etree.iterparse(source, events=("end",), tag="subscriber", resolve_entities=False,
                           load_dtd=False, no_network=True, huge_tree=False, remove_pis=True)


def _check_document(tree: etree._ElementTree) -> None:
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None:
        raise errors.ImportDocumentInvalid("DOCTYPE is not allowed")
    if etree.QName(tree.getroot()).localname != "subscribers":
        raise errors.ImportDocumentInvalid("the root element must be <subscribers>")


# The elements of the rows read are freed this many rows at a time (about 300 kB of them):
# freeing each row as it was read cost about a twentieth of the reading of a row.
_FREE_EVERY = 500


def _free_before(elem: etree._Element) -> None:
    """Free what the parser is done with before `elem`: its previous siblings, and those of
    each of its ancestors, whatever the nesting (`elem` itself stays: the parser links its
    next sibling to it)."""
    node, parent = elem, elem.getparent()
    while parent is not None:
        del parent[:parent.index(node)]
        node, parent = parent, parent.getparent()


def read_xml(source: IO[bytes], opts: ImportOptions) -> Iterator[ReaderRow]:
    """MailUp's import XML, a row per subscriber (a PlainRow where it can be one). Raises
    ImportDocumentInvalid for non-XML, a DOCTYPE, or another root element; rows themselves
    are never fatal. The rows read so far are freed as it goes, so memory stays flat
    whatever the size."""
    row_no = 0
    events = _secure_iterparse(source)
    channels = opts.channels
    field_ids: dict[object, int | None] = {}  # this document's child tags, resolved once each
    try:
        for _, elem in events:
            if row_no == 0:
                _check_document(elem.getroottree())
            row_no += 1
            yield _xml_row(row_no, elem, opts, channels, field_ids)
            if row_no % _FREE_EVERY == 0:
                _free_before(elem)
        if row_no == 0:
            _check_document(events.root.getroottree())
    except etree.XMLSyntaxError as exc:
        raise errors.ImportDocumentInvalid(f"not well-formed XML: {exc}") from None


def _field_id(tag: object, known: dict[object, int | None]) -> int | None:
    """The field number of a child element's tag (`campo7`, any namespace); None when the
    element is not a field (a comment or processing instruction has a non-text tag). The
    answer is kept in `known`: a document uses a handful of tags, each resolved once, and
    the cache stops growing at 64 entries whatever the document holds."""
    match = CAMPO.match(tag.rpartition("}")[2]) if isinstance(tag, str) else None
    field_id = int(match.group(1)) if match else None
    if len(known) < 64:
        known[tag] = field_id
    return field_id


_UNSEEN = -1


def _xml_row(row_no: int, elem: etree._Element, opts: ImportOptions, channels: Channels,
             known: dict[object, int | None]) -> ReaderRow:
    fields = _NO_FIELDS.copy()
    too_long = False
    for child in elem:
        tag = child.tag
        field_id = known.get(tag, _UNSEEN)  # inline: this loop runs for every element
        if field_id == _UNSEEN:
            field_id = _field_id(tag, known)
        if field_id is None:
            continue
        if not 1 <= field_id <= PERSONAL_FIELD_COUNT:
            return StagedRow(row_no, None, None, {}, f"unknown field campo{field_id}")
        text = child.text
        value = fields[field_id - 1] = text.strip() if text else ""
        too_long = too_long or len(value) > FIELD_MAX
    get = elem.get
    number = get("Number")
    # Most rows give a valid email and no number: a PlainRow, taken here as `_contact` takes
    # them, without its calls. Any other row goes there.
    if not (number or too_long) and channels is not Channels.SMS:
        email = get("email")
        value = email.strip() if email else ""
        if value and is_email(value):
            return (row_no, value, fields)
    return _contact(row_no, get("email"), get("Prefix"), number, _given(fields), opts,
                    channels=channels)


def read_xml_string(document: str | None, opts: ImportOptions) -> Iterator[ReaderRow]:
    if not (document or "").strip():
        raise errors.ImportDocumentEmpty()
    return read_xml(io.BytesIO((document or "").strip().encode("utf-8")), opts)


def utf8_lines(raw: IO[bytes]) -> Iterator[str]:
    """Text lines of an uploaded file; a byte sequence that is not UTF-8 makes the whole
    document invalid (a binary file, say), reported once, not as a crash."""
    for number, line in enumerate(raw, 1):
        try:
            yield line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise errors.ImportDocumentInvalid(f"line {number} is not UTF-8 text") from None


def read_csv(lines: Iterable[str], opts: ImportOptions,
             extra_columns: tuple[str, ...] = (), delimiter: str = "|") -> Iterator[StagedRow]:
    """MailUp's CSV: `|`-separated (SendMessageNL's files: `delimiter`), a header of field
    ids (111 email, 222 prefix, 333 number, 444 full mobile, 1..39 personal fields) plus the
    `extra_columns` named here (e.g. status, groups), the same column count on every row. A
    row's number is its line in the file."""
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise errors.ImportDocumentEmpty() from None
    except csv.Error as exc:
        raise errors.ImportDocumentInvalid(f"line 1: {exc}") from None
    if len(header) == 1 and any(sep in header[0] for sep in ",;|\t" if sep != delimiter):
        raise errors.ImportDocumentInvalid(
            f"the header {header[0]!r} is not separated by {delimiter!r}")
    known = {EMAIL_COLUMN, PREFIX_COLUMN, NUMBER_COLUMN, FULL_MOBILE_COLUMN, *extra_columns}
    for name in header:
        if name not in known and not (name.isascii() and name.isdigit()
                                      and 1 <= int(name) <= PERSONAL_FIELD_COUNT):
            raise errors.ImportDocumentInvalid(f"unknown column {name!r} in the header")
    if len(set(header)) != len(header):
        raise errors.ImportDocumentInvalid("a column appears twice in the header")
    if EMAIL_COLUMN not in header and not {NUMBER_COLUMN, FULL_MOBILE_COLUMN} & set(header):
        raise errors.ImportDocumentInvalid("no email (111) or mobile (333/444) column")
    while True:
        row_no = reader.line_num + 1  # the line the row starts on (a quoted value may span)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise errors.ImportDocumentInvalid(f"line {reader.line_num}: {exc}") from None
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield StagedRow(row_no, None, None, {},
                            f"{len(cells)} columns where the header has {len(header)}")
            continue
        if any(NOT_XML.search(c) for c in cells):  # PostgreSQL refuses NUL, XML the rest
            yield StagedRow(row_no, None, None, {}, "a control character in the row")
            continue
        values = dict(zip(header, (c.strip() for c in cells), strict=True))
        fields = {int(k): v for k, v in values.items() if k.isdigit() and len(k) <= 2}
        number = values.get(FULL_MOBILE_COLUMN) or values.get(NUMBER_COLUMN)
        prefix = values.get(PREFIX_COLUMN)
        if prefix and values.get(NUMBER_COLUMN) and not values.get(FULL_MOBILE_COLUMN):
            number = "+" + prefix.lstrip("+").removeprefix("00") + values[NUMBER_COLUMN]
        extra = {k: values[k] for k in extra_columns if k in values}
        yield _contact(row_no, values.get(EMAIL_COLUMN), None, number, fields,
                       dataclasses.replace(opts, mobile_input_type=1), extra)
