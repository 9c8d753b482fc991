"""DOCX output: every contract kind opens in python-docx with its blocks, styles and properties intact,
the package is a sound zip, and the same input gives the same bytes in any process."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import docx
import pytest
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.table import Table as WordTable
from docx.text.paragraph import Paragraph as WordParagraph
from lxml import etree

from handlers.contracts import build_contract
from handlers.contracts.document import (
    Cell,
    Clause,
    ContractDocument,
    Heading,
    Paragraph,
    SignatureParty,
    Signatures,
    Table,
)
from handlers.contracts.docx_output import render_docx
from tests.unit.test_handlers_contracts import CASES, make_ctx

AUTHOR = "国网示例市供电公司"
TIMESTAMP = datetime(2026, 11, 23, 9, 30)
CJK_FONT = "WenQuanYi Zen Hei"
AWKWARD_NAME = "A<b>&C \"商\" 'x' 行"


def contract(kind: str, **data: Any) -> ContractDocument:
    variant, base, _ = CASES[kind]
    return build_contract(make_ctx(variant, {**base, **data}), kind)


def open_docx(content: bytes) -> Any:
    return docx.Document(io.BytesIO(content))


def assert_same_blocks(word: Any, document: ContractDocument) -> None:
    """Walk the DOCX body and the ContractDocument side by side, block by block."""
    items = list(word.iter_inner_content())
    title = items.pop(0)
    assert isinstance(title, WordParagraph)
    assert (title.text, title.style.name, title.alignment) == (document.title, "Title", WD_ALIGN_PARAGRAPH.CENTER)
    for block in document.blocks:
        item = items.pop(0)
        if isinstance(block, (Paragraph, Heading)):
            assert isinstance(item, WordParagraph)
            style = "Normal" if isinstance(block, Paragraph) else "Heading 1"
            assert (item.text, item.style.name) == (block.text, style)
            assert [run.bold for run in item.runs] == [None]
        elif isinstance(block, Clause):
            assert isinstance(item, WordParagraph)
            assert item.style.name == "Normal"
            assert [(run.text, run.bold) for run in item.runs] == [(f"{block.number}  ", True), (block.text, None)]
        elif isinstance(block, Table):
            assert isinstance(item, WordTable)
            assert (item.style.name, item.alignment) == ("Table Grid", WD_TABLE_ALIGNMENT.CENTER)
            assert_even_columns(word, item)
            assert [[(cell.text, [run.bold for run in cell.paragraphs[0].runs]) for cell in row.cells]
                    for row in item.rows] == [[(cell.text, [cell.header]) for cell in row] for row in block.rows]
        else:
            assert isinstance(item, WordParagraph) and item.text == "" and item.runs == []
            table = items.pop(0)
            assert isinstance(table, WordTable)
            assert (table.style.name, table.alignment) == ("Normal Table", None)  # the document's default
            assert_even_columns(word, table)
            [row] = table.rows
            assert len(row.cells) == len(block.parties)
            for cell, party in zip(row.cells, block.parties):
                first, *lines = cell.paragraphs
                assert [(run.text, run.bold) for run in first.runs] == [(party.title, True)]
                assert [(line.text, [run.bold for run in line.runs]) for line in lines] == [
                    (line, [None]) for line in party.lines
                ]
    assert items == []


def assert_even_columns(word: Any, table: WordTable) -> None:
    section = word.sections[-1]
    text_width = section.page_width - section.left_margin - section.right_margin
    widths = {cell.width for row in table.rows for cell in row.cells}
    assert len(widths) == 1
    [width] = widths
    assert abs(width * len(table.columns) - text_width) <= 635 * len(table.columns)  # a twip per column
    assert [column.width for column in table.columns] == [width] * len(table.columns)


@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_reads_back_block_by_block(kind: str) -> None:
    document = contract(kind)
    word = open_docx(render_docx(document, AUTHOR, TIMESTAMP))
    assert_same_blocks(word, document)
    assert any(isinstance(block, Signatures) for block in document.blocks)
    assert any(isinstance(block, Table) for block in document.blocks)


def test_text_that_looks_like_markup_survives_the_round_trip() -> None:
    document = contract("lv_supply", customer_name=AWKWARD_NAME)
    word = open_docx(render_docx(document, "甲<&>\"'乙", TIMESTAMP))
    assert_same_blocks(word, document)
    cells = [cell.text for table in word.tables for row in table.rows for cell in row.cells]
    assert AWKWARD_NAME in cells
    assert word.core_properties.author == "甲<&>\"'乙"


def test_whitespace_tabs_and_line_breaks_are_written_as_python_docx_writes_them() -> None:
    document = ContractDocument(" 标题 ", (
        Paragraph("  两端空格  "),
        Heading("甲\t乙"),
        Clause("第一条", "一行\n二行"),
        Table(((Cell("表头", True), Cell(" 缩进", False)), (Cell("短行", False),))),
        Signatures((SignatureParty("甲方", ("名称：  ",)), SignatureParty("乙方", ()))),
    ))
    word = open_docx(render_docx(document, AUTHOR, TIMESTAMP))
    paragraphs = word.paragraphs
    assert [paragraphs[0].text, paragraphs[1].text, paragraphs[2].text] == [" 标题 ", "  两端空格  ", "甲\t乙"]
    assert paragraphs[3].runs[1].text == "一行\n二行"
    assert [cell.text for cell in word.tables[0].rows[1].cells] == ["短行", ""]  # a short row is filled out
    assert word.tables[1].rows[0].cells[0].paragraphs[1].text == "名称：  "
    ours = zipfile.ZipFile(io.BytesIO(render_docx(document, AUTHOR, TIMESTAMP))).read("word/document.xml")
    theirs = zipfile.ZipFile(io.BytesIO(python_docx_package(document))).read("word/document.xml")
    assert canonical(ours) == canonical(theirs)


def test_the_body_is_the_wordprocessingml_python_docx_writes() -> None:
    for kind in CASES:
        document = contract(kind, customer_name=AWKWARD_NAME)
        ours = zipfile.ZipFile(io.BytesIO(render_docx(document, AUTHOR, TIMESTAMP)))
        theirs = zipfile.ZipFile(io.BytesIO(python_docx_package(document)))
        assert canonical(ours.read("word/document.xml")) == canonical(theirs.read("word/document.xml")), kind
        assert ours.read("word/styles.xml") == theirs.read("word/styles.xml")


def python_docx_package(document: ContractDocument) -> bytes:
    """The contract built through python-docx's own API, block by block (the reference)."""
    word = docx.Document()
    normal = word.styles["Normal"]
    normal.font.name, normal.font.size = CJK_FONT, Pt(11)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), CJK_FONT)
    word.add_heading(document.title, level=0).alignment = WD_ALIGN_PARAGRAPH.CENTER
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
            table = word.add_table(rows=len(block.rows), cols=max(len(row) for row in block.rows))
            table.style, table.alignment = "Table Grid", WD_TABLE_ALIGNMENT.CENTER
            for word_row, row in zip(table.rows, block.rows):
                for word_cell, cell in zip(word_row.cells, row):
                    word_cell.paragraphs[0].add_run(cell.text).bold = cell.header
        else:
            word.add_paragraph()
            table = word.add_table(rows=1, cols=len(block.parties))
            for word_cell, party in zip(table.rows[0].cells, block.parties):
                word_cell.paragraphs[0].add_run(party.title).bold = True
                for line in party.lines:
                    word_cell.add_paragraph(line)
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


def canonical(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml), method="c14n")


def test_core_properties_and_default_font() -> None:
    word = open_docx(render_docx(contract("hv_supply"), AUTHOR, datetime(2026, 11, 23, 9, 30, 17)))
    properties = word.core_properties
    assert (properties.title, properties.author, properties.last_modified_by, properties.revision) == (
        "高压供用电合同", AUTHOR, AUTHOR, 1)
    for stamp in (properties.created, properties.modified, properties.last_printed):
        assert stamp.replace(tzinfo=None) == datetime(2026, 11, 23, 9, 30, 17)
    normal = word.styles["Normal"]
    assert (normal.font.name, normal.font.size) == (CJK_FONT, Pt(11))
    assert normal.element.rPr.rFonts.get(qn("w:eastAsia")) == CJK_FONT


def test_package_is_a_sound_zip_whose_content_types_cover_every_part() -> None:
    archive = zipfile.ZipFile(io.BytesIO(render_docx(contract("pv_purchase"), AUTHOR, TIMESTAMP)))
    assert archive.testzip() is None  # every CRC checks out
    names = archive.namelist()
    assert names[0] == "[Content_Types].xml" and len(set(names)) == len(names)
    assert {"word/document.xml", "docProps/core.xml", "word/styles.xml", "_rels/.rels"} <= set(names)
    types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
    namespace = "{http://schemas.openxmlformats.org/package/2006/content-types}"
    overrides = {element.get("PartName") for element in types.iter(f"{namespace}Override")}
    defaults = {element.get("Extension") for element in types.iter(f"{namespace}Default")}
    for name in names[1:]:
        assert f"/{name}" in overrides or name.rsplit(".", 1)[-1] in defaults, name
    assert {entry.compress_type for entry in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert {entry.external_attr for entry in archive.infolist()} == {0o600 << 16}


def test_same_input_gives_the_same_bytes_and_the_timestamp_dates_the_entries() -> None:
    document = contract("hv_supply")
    first = render_docx(document, AUTHOR, TIMESTAMP)
    assert render_docx(document, AUTHOR, TIMESTAMP) == first
    later = render_docx(document, AUTHOR, datetime(2027, 3, 4, 5, 6, 8))
    assert later != first
    assert {entry.date_time for entry in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {
        (2026, 11, 23, 9, 30, 0)}
    assert {entry.date_time for entry in zipfile.ZipFile(io.BytesIO(later)).infolist()} == {
        (2027, 3, 4, 5, 6, 8)}
    before_zip_time = render_docx(document, AUTHOR, datetime(1970, 1, 1))
    assert {entry.date_time for entry in zipfile.ZipFile(io.BytesIO(before_zip_time)).infolist()} == {
        (1980, 1, 1, 0, 0, 0)}


def test_another_process_renders_the_same_bytes() -> None:
    script = (
        "import hashlib, sys\n"
        "from tests.unit.test_docx_output import AUTHOR, TIMESTAMP, contract\n"
        "from handlers.contracts.docx_output import render_docx\n"
        "sys.stdout.write(hashlib.sha256(render_docx(contract('pv_dispatch'), AUTHOR, TIMESTAMP)).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    digest = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                            check=True).stdout
    assert digest == hashlib.sha256(render_docx(contract("pv_dispatch"), AUTHOR, TIMESTAMP)).hexdigest()


def test_a_character_xml_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="XML"):
        render_docx(ContractDocument("合同", (Paragraph("坏\x00字"),)), AUTHOR, TIMESTAMP)
