"""Would a reader without Python per row stage import rows faster? The reader of
`NewImportProcess` (lxml iterparse, per-row validation, COPY lines) against a probe of the
alternative: libxml2 parses blocks of BLOCK subscribers, an XSLT writes their COPY lines, one
regular expression checks a whole block (emails, field lengths, nothing to escape). The probe
handles only the bench's shape (campo1..campo5 in order, no mobile number) and keeps no
fallback for other rows: it bounds what such a reader could gain, it is not one. Both run
alternately in this process on the same ROWS bench subscribers (scripts/bench_import.py), with
no database; each prints microseconds per row.

    .venv/bin/python scripts/probe_xslt_reader.py [--rows 25000] [--block 1000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import io
import re
import time
from collections.abc import Callable

from bench_import import FIELDS, xml_rows
from lxml import etree

from mailup_soap.db.import_staging import DELIMITER, NULL, StageCounts, copy_text
from mailup_soap.domain.contacts import EMAIL, FIELD_MAX
from mailup_soap.domain.import_readers import _secure_iterparse, read_xml_string
from mailup_soap.domain.imports import ImportOptions
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT

TAB = "<xsl:text>&#9;</xsl:text>"


def stylesheet(fields: int) -> etree.XSLT:
    """COPY lines (process id, row number, email, mobile, 39 fields, status, groups, problem)
    for the first $k subscribers of the tree: parsing runs ahead of the events, so later
    ones may be half built. A subscriber of another shape gets a line `!`."""
    values = [f'<xsl:value-of select="*[{i}]"/>' for i in range(1, fields + 1)]
    absent = "\\N\t" * (PERSONAL_FIELD_COUNT - fields)
    shape = " and ".join([f"count(*)={fields}", *(f"name(*[{i}])='campo{i}'"
                                                   for i in range(1, fields + 1))])
    return etree.XSLT(etree.XML(f"""
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:param name="pid"/><xsl:param name="k"/><xsl:param name="offset"/>
<xsl:template match="/"><xsl:for-each select="*/subscriber[position() &lt;= $k]">
<xsl:choose><xsl:when test="{shape}">
<xsl:value-of select="$pid"/>{TAB}<xsl:value-of select="$offset + position()"/>{TAB}
<xsl:value-of select="@email"/><xsl:text>&#9;\\N&#9;</xsl:text>{TAB.join(values)}
<xsl:text>&#9;{absent}\\N&#9;\\N&#9;\\N&#10;</xsl:text></xsl:when>
<xsl:otherwise><xsl:text>!&#10;</xsl:text></xsl:otherwise></xsl:choose>
</xsl:for-each></xsl:template></xsl:stylesheet>"""))


# A valid row's line: an email MailUp's check accepts, no mobile, each field absent (\N) or at
# most FIELD_MAX characters with no surrounding space and nothing COPY would have to escape.
_FIELD = rf"(?:\\N|(?:[^\s\\](?:[^\t\n\r\\]{{0,{FIELD_MAX - 2}}}[^\s\\])?)?)"
_ROW = (rf"\d+\t\d+\t(?={EMAIL.pattern[1:-1]}\t)[^\t]{{1,254}}\t\\N\t"
        rf"(?:{_FIELD}\t){{{PERSONAL_FIELD_COUNT}}}\\N\t\\N\t\\N\n")
BLOCK_OK = re.compile(f"(?:{_ROW})*")


def today(document: str) -> str:
    return "".join(copy_text(7, read_xml_string(document, ImportOptions()), StageCounts()))


def probe(document: str, block: int, xslt: etree.XSLT) -> str:
    out, pending, done = [], 0, 0
    for _, elem in _secure_iterparse(io.BytesIO(document.encode())):
        pending += 1
        if pending == block:
            parent = elem.getparent()
            text = str(xslt(parent.getroottree(), pid="7", k=str(block), offset=str(done)))
            if not BLOCK_OK.fullmatch(text):
                raise SystemExit("a block of another shape: the probe has no fallback")
            out.append(text)
            del parent[:parent.index(elem) + 1]
            done += pending
            pending = 0
    if pending:
        raise SystemExit("--rows must be a multiple of --block")
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--block", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    document = xml_rows(0, args.rows)
    xslt = stylesheet(FIELDS)
    # The probe writes tabs and \N (XSLT cannot write the control characters import_rows'
    # COPY text uses instead), which the bench's values never hold.
    if today(document) != (probe(document, args.block, xslt).replace("\t", DELIMITER)
                           .replace("\\N", NULL)):
        raise SystemExit("the probe's COPY text differs from today's reader's")
    runs: list[tuple[str, Callable[[], str]]] = [
        ("today's reader + COPY lines", lambda: today(document)),
        ("XSLT block reader (probe)", lambda: probe(document, args.block, xslt))]
    for _ in range(args.rounds):
        for name, run in runs:
            started = time.perf_counter()
            run()
            print(f"{name}: {(time.perf_counter() - started) / args.rows * 1e6:.1f} µs/row")


if __name__ == "__main__":
    main()
