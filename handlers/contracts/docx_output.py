"""DOCX rendering of a contract document, with python-docx; byte-for-byte reproducible."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.table import _Cell

from handlers.contracts.document import (
    Clause,
    ContractDocument,
    Heading,
    Paragraph,
    Signatures,
    Table,
)

# Word picks the East Asian font from w:eastAsia, not from the plain font name.
_CJK_FONT = "WenQuanYi Zen Hei"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip entry can carry


def render_docx(document: ContractDocument, author: str, timestamp: datetime) -> bytes:
    """Return the DOCX bytes for ``document``; same input and timestamp give the same bytes."""
    word = Document()
    _set_default_font(word)
    properties = word.core_properties
    properties.title = document.title
    properties.author = author
    properties.last_modified_by = author
    properties.created = timestamp
    properties.modified = timestamp
    properties.last_printed = timestamp
    properties.revision = 1

    title = word.add_heading(document.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for block in document.blocks:
        if isinstance(block, Paragraph):
            word.add_paragraph(block.text)
        elif isinstance(block, Heading):
            word.add_heading(block.text, level=1)
        elif isinstance(block, Clause):
            paragraph = word.add_paragraph()
            paragraph.add_run(f"{block.number}  ").bold = True
            paragraph.add_run(block.text)
        elif isinstance(block, Table):
            _add_table(word, block)
        else:
            _add_signatures(word, block)

    buffer = io.BytesIO()
    word.save(buffer)
    return _with_fixed_zip_times(buffer.getvalue(), timestamp)


def _set_default_font(word: Document) -> None:
    style = word.styles["Normal"]
    style.font.name = _CJK_FONT
    style.font.size = Pt(11)
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), _CJK_FONT)


def _add_table(word: Document, block: Table) -> None:
    width = max(len(row) for row in block.rows)
    table = word.add_table(rows=len(block.rows), cols=width)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for row_cells, row in zip(table.rows, block.rows):
        for cell, source in zip(row_cells.cells, row):
            _fill(cell, source.text, bold=source.header)


def _add_signatures(word: Document, block: Signatures) -> None:
    word.add_paragraph()
    table = word.add_table(rows=1, cols=len(block.parties))
    for cell, party in zip(table.rows[0].cells, block.parties):
        _fill(cell, party.title, bold=True)
        for line in party.lines:
            cell.add_paragraph(line)


def _fill(cell: _Cell, text: str, bold: bool) -> None:
    cell.paragraphs[0].add_run(text).bold = bold


def _with_fixed_zip_times(package: bytes, timestamp: datetime) -> bytes:
    """Rewrite the zip so entry timestamps come from ``timestamp`` rather than the wall clock."""
    date_time = max(_ZIP_EPOCH, timestamp.timetuple()[:6])
    source = zipfile.ZipFile(io.BytesIO(package))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=date_time)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = entry.external_attr
            target.writestr(fixed, source.read(entry.filename))
    return output.getvalue()
