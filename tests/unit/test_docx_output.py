"""DOCX output: every contract kind opens in python-docx with its blocks, styles and properties intact,
the package is a sound zip, and the same input gives the same bytes in any process.

The reference for the bytes is python-docx's own API: the same document built block by block with it
(A4 page, footer with the number and page fields, emphasised runs, unbreakable signature row) must
serialise to the same WordprocessingML as the fast writer's."""

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
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table as WordTable
from docx.text.paragraph import Paragraph as WordParagraph
from lxml import etree

from handlers.contracts import build_contract
from handlers.contracts.document import (
    Cell,
    Clause,
    ContractDocument,
    Heading,
    Item,
    Paragraph,
    SignatureParty,
    Signatures,
    Span,
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


def runs_of(spans: tuple[Span, ...]) -> list[tuple[str, bool | None, bool | None]]:
    """Text, bold and underline of the runs a span list becomes: emphasised spans are bold and underlined."""
    return [(span.text, True if span.bold else None, True if span.bold else None) for span in spans]


def read_runs(paragraph: WordParagraph) -> list[tuple[str, bool | None, bool | None]]:
    return [(run.text, run.bold, run.underline) for run in paragraph.runs]


def assert_same_blocks(word: Any, document: ContractDocument) -> None:
    """Walk the DOCX body and the ContractDocument side by side, block by block."""
    items = list(word.iter_inner_content())
    title = items.pop(0)
    assert isinstance(title, WordParagraph)
    assert (title.text, title.style.name, title.alignment) == (document.title, "Title", WD_ALIGN_PARAGRAPH.CENTER)
    for block in document.blocks:
        item = items.pop(0)
        if isinstance(block, (Paragraph, Item)):
            assert isinstance(item, WordParagraph)
            assert item.style.name == "Normal"
            assert read_runs(item) == runs_of(block.spans)
            assert item.paragraph_format.left_indent == (Pt(21) if isinstance(block, Item) else None)
        elif isinstance(block, Heading):
            assert isinstance(item, WordParagraph)
            assert (item.text, item.style.name) == (block.text, "Heading 1")
            assert [run.bold for run in item.runs] == [None]
            assert item.paragraph_format.page_break_before == (True if block.new_page else None)
        elif isinstance(block, Clause):
            assert isinstance(item, WordParagraph)
            assert item.style.name == "Normal"
            assert read_runs(item) == [(block.label, True, None), *runs_of(block.spans)]
        elif isinstance(block, Table):
            assert isinstance(item, WordTable)
            assert (item.style.name, item.alignment) == ("Table Grid", WD_TABLE_ALIGNMENT.CENTER)
            assert_even_columns(word, item)
            assert [[(cell.text, [run.bold for run in cell.paragraphs[0].runs]) for cell in row.cells]
                    for row in item.rows] == [[(cell.text, [cell.header]) for cell in row] for row in block.rows]
        else:
            # The lead paragraphs and an empty line keep with the signature row, which cannot split.
            for lead in block.lead:
                assert isinstance(item, WordParagraph)
                assert read_runs(item) == runs_of(lead.spans) and item.paragraph_format.keep_with_next
                item = items.pop(0)
            assert isinstance(item, WordParagraph) and item.text == "" and item.runs == []
            assert item.paragraph_format.keep_with_next
            table = items.pop(0)
            assert isinstance(table, WordTable)
            assert (table.style.name, table.alignment) == ("Normal Table", None)  # the document's default
            assert_even_columns(word, table)
            [row] = table.rows
            assert row._tr.trPr is not None and row._tr.trPr.find(qn("w:cantSplit")) is not None
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
    for block_type in (Signatures, Table, Clause, Heading):
        assert any(isinstance(block, block_type) for block in document.blocks), block_type
    assert any(isinstance(block, Heading) and block.new_page for block in document.blocks)  # an appendix
    assert any(span.bold for block in document.blocks if isinstance(block, Clause) for span in block.spans)


def test_every_page_is_a4_with_the_number_and_page_fields_in_its_footer() -> None:
    document = contract("hv_supply")
    word = open_docx(render_docx(document, AUTHOR, TIMESTAMP))
    section = word.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    footer = section.footer
    assert not footer.is_linked_to_previous
    [paragraph] = footer.paragraphs
    assert paragraph.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert paragraph.text == f"合同编号：{document.number}　　第 1 页 共 1 页"  # the fields' cached values
    instructions = [node.text for node in paragraph._p.iter(qn("w:instrText"))]
    assert instructions == [" PAGE ", " NUMPAGES "]
    begins = [node for node in paragraph._p.iter(qn("w:fldChar")) if node.get(qn("w:fldCharType")) == "begin"]
    assert [node.get(qn("w:dirty")) for node in begins] == ["true", "true"]  # counted again when opened


def test_text_that_looks_like_markup_survives_the_round_trip() -> None:
    document = contract("lv_supply", customer_name=AWKWARD_NAME)
    word = open_docx(render_docx(document, "甲<&>\"'乙", TIMESTAMP))
    assert_same_blocks(word, document)
    cells = [cell.text for table in word.tables for row in table.rows for cell in row.cells]
    assert AWKWARD_NAME in cells
    assert word.core_properties.author == "甲<&>\"'乙"


def test_whitespace_tabs_and_line_breaks_are_written_as_python_docx_writes_them() -> None:
    document = ContractDocument(" 标题 ", "甲-01", (
        Paragraph((Span("  两端空格  "),)),
        Heading("甲\t乙"),
        Clause("第一条", "", (Span("一行\n二行"),)),
        Item((Span("（一）"), Span(" 强调 ", bold=True))),
        Heading("附件一  清单", new_page=True),
        Table(((Cell("表头", True), Cell(" 缩进", False)), (Cell("短行", False),))),
        Signatures((Paragraph((Span("确认", bold=True),)),), (SignatureParty("甲方", ("名称：  ",)),
                                                              SignatureParty("乙方", ()))),
    ))
    word = open_docx(render_docx(document, AUTHOR, TIMESTAMP))
    paragraphs = word.paragraphs
    assert [paragraphs[0].text, paragraphs[1].text, paragraphs[2].text] == [" 标题 ", "  两端空格  ", "甲\t乙"]
    assert paragraphs[3].runs[1].text == "一行\n二行"
    assert paragraphs[4].runs[1].text == " 强调 "
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
        assert canonical(ours.read("word/footer1.xml")) == canonical(theirs.read("word/footer1.xml")), kind
        assert ours.read("word/styles.xml") == theirs.read("word/styles.xml")


def python_docx_package(document: ContractDocument) -> bytes:
    """The contract built through python-docx's own API, block by block (the reference)."""
    word = docx.Document()
    normal = word.styles["Normal"]
    normal.font.name, normal.font.size = CJK_FONT, Pt(11)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), CJK_FONT)
    section = word.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = section.left_margin = section.right_margin = Mm(25)
    section.footer.is_linked_to_previous = False
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run(f"合同编号：{document.number}　　第 ")
    add_field(footer, "PAGE")
    footer.add_run(" 页 共 ")
    add_field(footer, "NUMPAGES")
    footer.add_run(" 页")
    word.add_heading(document.title, level=0).alignment = WD_ALIGN_PARAGRAPH.CENTER
    for block in document.blocks:
        if isinstance(block, (Paragraph, Item)):
            paragraph = word.add_paragraph()
            if isinstance(block, Item):
                paragraph.paragraph_format.left_indent = Pt(21)
            add_spans(paragraph, block.spans)
        elif isinstance(block, Heading):
            heading = word.add_heading(block.text, level=1)
            if block.new_page:
                heading.paragraph_format.page_break_before = True
        elif isinstance(block, Clause):
            paragraph = word.add_paragraph()
            paragraph.add_run(block.label).bold = True
            add_spans(paragraph, block.spans)
        elif isinstance(block, Table):
            table = word.add_table(rows=len(block.rows), cols=max(len(row) for row in block.rows))
            table.style, table.alignment = "Table Grid", WD_TABLE_ALIGNMENT.CENTER
            for word_row, row in zip(table.rows, block.rows):
                for word_cell, cell in zip(word_row.cells, row):
                    word_cell.paragraphs[0].add_run(cell.text).bold = cell.header
        else:
            for lead in block.lead:
                paragraph = word.add_paragraph()
                paragraph.paragraph_format.keep_with_next = True
                add_spans(paragraph, lead.spans)
            word.add_paragraph().paragraph_format.keep_with_next = True
            table = word.add_table(rows=1, cols=len(block.parties))
            table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
            for word_cell, party in zip(table.rows[0].cells, block.parties):
                word_cell.paragraphs[0].add_run(party.title).bold = True
                for line in party.lines:
                    word_cell.add_paragraph(line)
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


def add_spans(paragraph: WordParagraph, spans: tuple[Span, ...]) -> None:
    for span in spans:
        run = paragraph.add_run(span.text)
        if span.bold:
            run.bold = run.underline = True


def add_field(paragraph: WordParagraph, instruction: str) -> None:
    """A complex field (begin, instruction, separate, cached result 1, end), dirty so it is recounted."""
    begin = OxmlElement("w:fldChar", {qn("w:fldCharType"): "begin", qn("w:dirty"): "true"})
    paragraph.add_run()._r.append(begin)
    code = OxmlElement("w:instrText")
    code.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    code.text = f" {instruction} "
    paragraph.add_run()._r.append(code)
    paragraph.add_run()._r.append(OxmlElement("w:fldChar", {qn("w:fldCharType"): "separate"}))
    paragraph.add_run("1")
    paragraph.add_run()._r.append(OxmlElement("w:fldChar", {qn("w:fldCharType"): "end"}))


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
        render_docx(ContractDocument("合同", "甲-01", (Paragraph((Span("坏\x00字"),)),)), AUTHOR, TIMESTAMP)
