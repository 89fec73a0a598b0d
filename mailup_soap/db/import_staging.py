"""The staging of an import's rows: their COPY text, and the COPY into `import_rows` (which
db.bulk_import then merges)."""
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailup_soap.domain.import_readers import ABSENT, ReaderRow, StagedRow
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT

FIELDS = [f"field{i}" for i in range(1, PERSONAL_FIELD_COUNT + 1)]
_COPY_COLUMNS = ["process_id", "row_no", "email", "mobile_number", *FIELDS, "status", "groups",
                 "problem"]


# The COPY text of import_rows: values separated by DELIMITER rather than a tab, and NULL
# written as ABSENT rather than \N. No value of a PlainRow can hold either (import_readers),
# so its line is its values as they are, and a tab in a value needs no escaping.
DELIMITER = "\x1f"
NULL = ABSENT
_COPY_OPTIONS = f"DELIMITER E'\\x{ord(DELIMITER):02x}', NULL E'\\x{ord(NULL):02x}'"


def _copy_value(value: str | None) -> str:
    """A StagedRow's value in COPY text: backslash, line ends, and the delimiter and NULL
    characters escaped (a backslash before any other character stands for that character)."""
    if value is None:
        return NULL
    if "\\" in value or "\n" in value or "\r" in value or DELIMITER in value or NULL in value:
        return (value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
                .replace(DELIMITER, "\\" + DELIMITER).replace(NULL, "\\" + NULL))
    return value


# COPY text encoded and handed over this many characters at a time, about.
_BLOCK_CHARS = 100_000


class _TextStream(io.RawIOBase):
    """A file over an iterator of pieces of text, for COPY FROM STDIN without building it
    all."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._buffer:
            parts, size = [], 0
            for piece in self._pieces:
                parts.append(piece)
                size += len(piece)
                if size >= _BLOCK_CHARS:
                    break
            self._buffer = memoryview("".join(parts).encode("utf-8"))
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


# PlainRows are written this many at a time (about 100 kB of COPY text), their lines joined
# by BLOCK_EOL, which no value of a PlainRow holds either: one pass over the block escapes the
# backslashes and line ends of every value at once (rare: most blocks have none), and one
# more puts the line ends in. A StagedRow's line escapes value by value instead.
_PLAIN_ROWS_PER_BLOCK = 500
BLOCK_EOL = "\x1e"
_PLAIN_TAIL = (DELIMITER + NULL) * 3  # status, groups and problem: none


def _plain_block(lines: list[str], prefix: str) -> str:
    text = BLOCK_EOL.join(lines).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return prefix + text.replace(BLOCK_EOL, "\n" + prefix) + "\n"


class StageCounts:
    def __init__(self) -> None:
        self.rows = self.rejected_email = self.rejected_mobile = self.rejected_other = 0
        self.by_number = 0  # valid rows giving a contact by mobile number alone
        self.last_row_no = 0  # row numbers may skip (blank CSV lines keep their number)

    def count(self, row: StagedRow) -> None:
        self.rows += 1
        self.last_row_no = max(self.last_row_no, row.row_no)
        if row.problem is None:
            if row.email is None:
                self.by_number += 1
            return
        if row.problem.startswith("Email"):
            self.rejected_email += 1
        elif row.problem.startswith("Sms"):
            self.rejected_mobile += 1
        else:
            self.rejected_other += 1

    def count_plain(self, rows: int, last_row_no: int) -> None:
        """`rows` PlainRows, the last numbered `last_row_no`."""
        self.rows += rows
        self.last_row_no = max(self.last_row_no, last_row_no)


def copy_text(process_id: int, rows: Iterable[ReaderRow], counts: StageCounts) -> Iterator[str]:
    """The COPY text of the rows in import_rows, in pieces, in the order read; `counts`
    counts them as they are written."""
    prefix = f"{process_id}{DELIMITER}"
    plain: list[str] = []
    last = 0
    for row in rows:
        if isinstance(row, tuple):  # a PlainRow
            last, email, fields = row
            plain.append(f"{last}{DELIMITER}{email}{DELIMITER}{NULL}{DELIMITER}"
                         f"{DELIMITER.join(fields)}{_PLAIN_TAIL}")
            if len(plain) < _PLAIN_ROWS_PER_BLOCK:
                continue
        if plain:  # a full block, or the PlainRows read before this StagedRow
            counts.count_plain(len(plain), last)
            yield _plain_block(plain, prefix)
            plain = []
        if not isinstance(row, tuple):
            counts.count(row)
            yield prefix + _copy_line(row)
    if plain:
        counts.count_plain(len(plain), last)
        yield _plain_block(plain, prefix)


def stage(conn: Connection, process_id: int, rows: Iterable[ReaderRow]) -> StageCounts:
    """COPY the rows of a document into import_rows (streamed: memory does not grow)."""
    counts = StageCounts()
    reader_error: list[Exception] = []

    def pieces() -> Iterator[str]:
        try:
            yield from copy_text(process_id, rows, counts)
        except Exception as exc:  # the document itself is bad: psycopg2 would hide why
            reader_error.append(exc)
            raise

    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY import_rows ({', '.join(_COPY_COLUMNS)}) FROM STDIN "
                           f"WITH ({_COPY_OPTIONS})",
                           io.BufferedReader(_TextStream(pieces()), 1 << 16))
    except Exception:
        if reader_error:
            raise reader_error[0] from None
        raise
    finally:
        cursor.close()
    conn.execute(sa.text(
        "UPDATE import_processes SET rows_staged = :last, total = :rows, "
        "rejected_email = :re, rejected_mobile = :rm, rejected_other = :ro, "
        "rows_by_number = :bn WHERE id = :p"),
        {"last": counts.last_row_no, "rows": counts.rows, "re": counts.rejected_email,
         "rm": counts.rejected_mobile, "ro": counts.rejected_other, "bn": counts.by_number,
         "p": process_id})
    return counts


_NO_FIELDS = [NULL] * PERSONAL_FIELD_COUNT
_NO_EXTRA = (DELIMITER + NULL) * 2  # status and groups, for rows without them


def _copy_line(row: StagedRow) -> str:
    """The row's COPY text after its process id (row_no, email, mobile, fields, status,
    groups, problem)."""
    fields = _NO_FIELDS.copy()
    for field_id, value in row.fields.items():
        fields[field_id - 1] = _copy_value(value)
    extra = row.extra
    tail = (f"{DELIMITER}{_copy_value(extra.get('status'))}"
            f"{DELIMITER}{_copy_value(extra.get('groups'))}" if extra else _NO_EXTRA)
    return (f"{row.row_no}{DELIMITER}{_copy_value(row.email)}{DELIMITER}"
            f"{_copy_value(row.mobile_number)}{DELIMITER}{DELIMITER.join(fields)}{tail}"
            f"{DELIMITER}{_copy_value(row.problem)}\n")
