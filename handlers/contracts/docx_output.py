"""DOCX rendering of a contract document; byte-for-byte reproducible.

python-docx builds the package once per process: the default template with our default font,
an A4 page and a footer, saved, and every part except the body (``word/document.xml``), the
footer (it carries the contract number) and the core properties kept as compressed zip entries.
Each contract then only writes those three parts, as the same WordprocessingML python-docx
would write for them, and one zip around the cached entries. Opening the template, looking
styles up and saving the package twice cost about 30 ms a contract; this costs about a
millisecond for a full HV contract (most of it deflating the body), and the bytes are the ones
python-docx and zipfile wrote.

Every page's footer shows the contract number and 第 X 页 共 Y 页 (PAGE and NUMPAGES fields,
marked dirty so that Word and LibreOffice count them when the file is opened). The signature
block is a table row that cannot split, its lead paragraphs kept with it, so it stays on one page.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime

from docx import Document
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt

from handlers.contracts.document import (
    Clause,
    ContractDocument,
    Heading,
    Item,
    Paragraph,
    Signatures,
    Span,
    Table,
)

# Word picks the East Asian font from w:eastAsia, not from the plain font name.
_CJK_FONT = "WenQuanYi Zen Hei"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip entry can carry
_DOCUMENT_PART = "word/document.xml"
_FOOTER_PART = "word/footer1.xml"  # python-docx's name for the first footer it adds
_CORE_PART = "docProps/core.xml"
_CONTENT_TYPES_PART = "[Content_Types].xml"
_WRITTEN_PARTS = (_DOCUMENT_PART, _FOOTER_PART, _CORE_PART)
PAGE_MARGIN_MM = 25  # on every side of an A4 page, as in the HTML (and so the PDF)
ITEM_INDENT_PT = 21  # two CJK characters at 10.5 pt


def render_docx(document: ContractDocument, author: str, timestamp: datetime) -> bytes:
    """Return the DOCX bytes for ``document``; same input and timestamp give the same bytes."""
    package = _static_package()
    written = {
        _DOCUMENT_PART: _checked(_document_xml(document, package)),
        _FOOTER_PART: _checked(_footer_xml(document.number, package)),
        _CORE_PART: _checked(_core_xml(document.title, author, timestamp)),
    }
    entries = [
        package.entries[name] if name in package.entries else _ZipEntry.deflate(name, written[name])
        for name in package.order
    ]
    return _zip(entries, max(_ZIP_EPOCH, timestamp.timetuple()[:6]))


# --- the static package, built once per process ------------------------------------------------


@dataclass(frozen=True)
class _StaticPackage:
    """What every contract shares: python-docx's parts, and the frame of the body."""

    order: tuple[str, ...]  # part names in zip order, [Content_Types].xml first
    entries: dict[str, _ZipEntry]  # every part but the body, the footer and the core properties
    body_start: str  # XML declaration, <w:document …> with the template's namespaces, <w:body>
    body_end: str  # the template's <w:sectPr>, then </w:body></w:document>
    footer_start: str  # XML declaration and <w:ftr …> with the template's namespaces
    footer_end: str  # </w:ftr>
    block_width: int  # EMU between the page margins; python-docx splits it evenly between columns
    title_style: str  # style ids, looked up by name in the template's styles.xml
    heading_style: str
    table_style: str
    footer_style: str


_package: _StaticPackage | None = None
_package_lock = threading.Lock()


def _static_package() -> _StaticPackage:
    global _package
    if _package is None:
        with _package_lock:  # the server renders on several threads; build it once
            if _package is None:
                _package = _build_static_package()
    return _package


def _build_static_package() -> _StaticPackage:
    word = Document()
    _set_default_font(word)
    set_page(word)
    buffer = io.BytesIO()
    word.save(buffer)
    with zipfile.ZipFile(buffer) as saved:
        parts = {name: saved.read(name) for name in saved.namelist()}
    order = [_CONTENT_TYPES_PART, *(name for name in parts if name != _CONTENT_TYPES_PART)]
    missing = set(_WRITTEN_PARTS) - set(parts)
    if missing:
        raise RuntimeError(f"python-docx's default template has no {', '.join(sorted(missing))}")
    body_start, body_end = _body_frame(parts[_DOCUMENT_PART].decode("utf-8"))
    footer_start, footer_end = _footer_frame(parts[_FOOTER_PART].decode("utf-8"))
    return _StaticPackage(
        order=tuple(order),
        entries={
            name: _ZipEntry.deflate(name, content)
            for name, content in parts.items()
            if name not in _WRITTEN_PARTS
        },
        body_start=body_start,
        body_end=body_end,
        footer_start=footer_start,
        footer_end=footer_end,
        block_width=_block_width(word),
        title_style=word.styles["Title"].style_id,
        heading_style=word.styles["Heading 1"].style_id,
        table_style=word.styles["Table Grid"].style_id,
        footer_style=word.styles["Footer"].style_id,
    )


def _set_default_font(word: Document) -> None:
    style = word.styles["Normal"]
    style.font.name = _CJK_FONT
    style.font.size = Pt(11)
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), _CJK_FONT)


def set_page(word: Document) -> None:
    """A4 with even margins, and a footer of its own (python-docx adds the part and its reference)."""
    section = word.sections[-1]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(PAGE_MARGIN_MM)
    section.left_margin = section.right_margin = Mm(PAGE_MARGIN_MM)
    section.footer.is_linked_to_previous = False


def _block_width(word: Document) -> int:
    """The EMU between the margins of the last section, which ``add_table`` shares out."""
    section = word.sections[-1]
    return int(section.page_width - section.left_margin - section.right_margin)


def _body_frame(template_xml: str) -> tuple[str, str]:
    """Split the empty template body around where the blocks go: before its closing sectPr."""
    start, separator, rest = template_xml.partition("<w:body>")
    section, closing, end = rest.rpartition("</w:body>")
    if not separator or not closing or not section.startswith("<w:sectPr"):
        raise RuntimeError("python-docx's default template body is not a lone <w:sectPr>")
    return start + separator, section + closing + end


def _footer_frame(template_xml: str) -> tuple[str, str]:
    """Split the new footer around its one empty paragraph."""
    start, separator, rest = template_xml.partition("><w:p>")
    paragraph, closing, end = rest.rpartition("</w:p>")
    if not separator or not closing or end != "</w:ftr>" or "<w:p>" in paragraph:
        raise RuntimeError("python-docx's new footer is not a lone paragraph")
    return start + ">", end


# --- word/document.xml --------------------------------------------------------------------------

# python-docx writes a tab as <w:tab/>, a line break as <w:br/>, and everything else as <w:t>.
_RUN_BREAKS = re.compile(r"([\t\r\n])")
_BREAK_XML = {"\t": "<w:tab/>", "\r": "<w:br/>", "\n": "<w:br/>"}
_BOLD = "<w:rPr><w:b/></w:rPr>"
_EMPHASIS = '<w:rPr><w:b/><w:u w:val="single"/></w:rPr>'  # a standard clause that limits the customer's rights
_NOT_BOLD = '<w:rPr><w:b w:val="0"/></w:rPr>'
_TABLE_LOOK = (
    '<w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" w:lastRow="0" '
    'w:noHBand="0" w:noVBand="1" w:val="04A0"/>'
)


_KEEP_WITH_NEXT = "<w:pPr><w:keepNext/></w:pPr>"
_ITEM_PROPERTIES = f'<w:pPr><w:ind w:left="{ITEM_INDENT_PT * 20}"/></w:pPr>'


def _document_xml(document: ContractDocument, package: _StaticPackage) -> str:
    title_properties = f'<w:pPr><w:pStyle w:val="{package.title_style}"/><w:jc w:val="center"/></w:pPr>'
    heading_properties = f'<w:pPr><w:pStyle w:val="{package.heading_style}"/></w:pPr>'
    new_page_properties = f'<w:pPr><w:pStyle w:val="{package.heading_style}"/><w:pageBreakBefore/></w:pPr>'
    xml = [package.body_start, _paragraph(document.title, title_properties)]
    for block in document.blocks:
        if isinstance(block, Paragraph):
            xml.append(_element("w:p", _spans(block.spans)))
        elif isinstance(block, Item):
            xml.append(_element("w:p", _ITEM_PROPERTIES + _spans(block.spans)))
        elif isinstance(block, Heading):
            xml.append(_paragraph(block.text, new_page_properties if block.new_page else heading_properties))
        elif isinstance(block, Clause):
            xml.append(f"<w:p>{_run(block.label, _BOLD)}{_spans(block.spans)}</w:p>")
        elif isinstance(block, Table):
            xml.append(_table_xml(block, package))
        else:
            # The lead paragraphs and an empty line keep with the signature row, which cannot split.
            xml.extend(_element("w:p", _KEEP_WITH_NEXT + _spans(lead.spans)) for lead in block.lead)
            xml.append(_element("w:p", _KEEP_WITH_NEXT))
            xml.append(_signatures_xml(block, package))
    xml.append(package.body_end)
    return "".join(xml)


def _spans(spans: tuple[Span, ...]) -> str:
    """One run per span: plain as ``add_run(text)`` writes it, emphasised as with ``.bold = .underline = True``."""
    return "".join(_run(span.text, _EMPHASIS if span.bold else "") for span in spans)


def _paragraph(text: str, properties: str = "") -> str:
    """A paragraph as ``add_paragraph(text)`` writes it: no run at all for empty text."""
    return _element("w:p", properties + (_run(text) if text else ""))


def _run(text: str, properties: str = "") -> str:
    content = []
    for piece in _RUN_BREAKS.split(text):
        if piece in _BREAK_XML:
            content.append(_BREAK_XML[piece])
        elif piece:
            # Word drops leading and trailing whitespace unless told to keep it.
            space = ' xml:space="preserve"' if len(piece.strip()) < len(piece) else ""
            content.append(f"<w:t{space}>{_escape(piece)}</w:t>")
    return _element("w:r", properties + "".join(content))


def _table_xml(block: Table, package: _StaticPackage) -> str:
    columns = max(len(row) for row in block.rows)
    width = _column_twips(package, columns)
    rows = [
        [_cell(width, _first_paragraph(cell.text, _BOLD if cell.header else _NOT_BOLD)) for cell in row]
        + [_cell(width, _paragraph(""))] * (columns - len(row))  # python-docx fills short rows out
        for row in block.rows
    ]
    properties = (
        f'<w:tblPr><w:tblStyle w:val="{package.table_style}"/><w:tblW w:type="auto" w:w="0"/>'
        f'<w:jc w:val="center"/>{_TABLE_LOOK}</w:tblPr>'
    )
    return _table(properties, columns, width, rows)


def _signatures_xml(block: Signatures, package: _StaticPackage) -> str:
    columns = len(block.parties)
    width = _column_twips(package, columns)
    cells = [
        _cell(width, _first_paragraph(party.title, _BOLD) + "".join(_paragraph(line) for line in party.lines))
        for party in block.parties
    ]
    properties = f'<w:tblPr><w:tblW w:type="auto" w:w="0"/>{_TABLE_LOOK}</w:tblPr>'
    return _table(properties, columns, width, [cells], row_properties="<w:trPr><w:cantSplit/></w:trPr>")


def _table(properties: str, columns: int, width: int, rows: list[list[str]], row_properties: str = "") -> str:
    grid = _element("w:tblGrid", f'<w:gridCol w:w="{width}"/>' * columns)
    body = "".join(_element("w:tr", row_properties + "".join(cells)) for cells in rows)
    return f"<w:tbl>{properties}{grid}{body}</w:tbl>"


def _cell(width: int, content: str) -> str:
    return f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr>{content}</w:tc>'


def _first_paragraph(text: str, properties: str) -> str:
    """A cell's first paragraph after ``add_run(text).bold = …``: one run, even for empty text."""
    return _element("w:p", _run(text, properties))


def _column_twips(package: _StaticPackage, columns: int) -> int:
    """The width python-docx gives each of ``columns`` columns of a new table."""
    return int(Emu(package.block_width // columns).twips) if columns else 0


# --- word/footer1.xml --------------------------------------------------------------------------


def _footer_xml(number: str, package: _StaticPackage) -> str:
    """合同编号 and 第 X 页 共 Y 页, the page figures as fields Word fills in."""
    properties = f'<w:pPr><w:pStyle w:val="{package.footer_style}"/><w:jc w:val="center"/></w:pPr>'
    content = (
        f"{_run(f'合同编号：{number}　　第 ')}{_field('PAGE')}{_run(' 页 共 ')}{_field('NUMPAGES')}{_run(' 页')}"
    )
    return f"{package.footer_start}<w:p>{properties}{content}</w:p>{package.footer_end}"


def _field(instruction: str) -> str:
    """A complex field whose cached result is 1; dirty, so the reader updates it when opening."""
    return (
        '<w:r><w:fldChar w:dirty="true" w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> {instruction} </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        "<w:r><w:t>1</w:t></w:r>"
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


# --- docProps/core.xml --------------------------------------------------------------------------

# The template's core properties with ours filled in, in the order python-docx writes them.
_CORE_XML = (
    "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
    '<cp:coreProperties'
    ' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
    ' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "{title}<dc:subject/>{creator}<cp:keywords/><dc:description>generated by python-docx</dc:description>"
    "{last_modified_by}<cp:revision>1</cp:revision>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">{time}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{time}</dcterms:modified>'
    "<cp:category/><cp:lastPrinted>{time}</cp:lastPrinted></cp:coreProperties>"
)


def _core_xml(title: str, author: str, timestamp: datetime) -> str:
    # As python-docx writes it: the wall-clock fields with a Z, whatever the tzinfo says.
    time = timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _CORE_XML.format(
        title=_element("dc:title", _escape(title)),
        creator=_element("dc:creator", _escape(author)),
        last_modified_by=_element("cp:lastModifiedBy", _escape(author)),
        time=time,
    )


# --- XML text -----------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all; lxml refuses them too, rather than write a broken part.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _element(tag: str, content: str) -> str:
    """``<tag>content</tag>``, or ``<tag/>`` when empty, as lxml serialises it."""
    return f"<{tag}>{content}</{tag}>" if content else f"<{tag}/>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _checked(xml: str) -> bytes:
    bad = _NOT_XML.search(xml)
    if bad is not None:
        raise ValueError(f"contract text holds a character XML cannot carry: {bad.group()!r}")
    return xml.encode("utf-8")


# --- the zip ------------------------------------------------------------------------------------

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
_END_OF_CENTRAL_DIRECTORY = struct.Struct("<IHHHHIIH")
_VERSION = 20  # deflate needs zip 2.0
_MADE_ON_UNIX = 3 << 8
_FILE_MODE = 0o600 << 16  # what zipfile gives an entry written from bytes


@dataclass(frozen=True)
class _ZipEntry:
    """One deflated zip member, ready to be written with any timestamp."""

    name: bytes
    crc: int
    size: int
    deflated: bytes

    @classmethod
    def deflate(cls, name: str, content: bytes) -> _ZipEntry:
        """Compress ``content`` as a raw deflate stream, as a zip member holds it."""
        # zipfile's default level: the cached parts are compressed once, the body is small.
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        deflated = compressor.compress(content) + compressor.flush()
        return cls(name.encode("ascii"), zlib.crc32(content), len(content), deflated)


def _zip(entries: list[_ZipEntry], date_time: tuple[int, ...]) -> bytes:
    """Write the entries once, in order, all dated ``date_time``; the layout zipfile writes."""
    year, month, day, hour, minute, second = date_time
    dos_date = (year - 1980) << 9 | month << 5 | day
    dos_time = hour << 11 | minute << 5 | second // 2
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for entry in entries:
        fields = (zipfile.ZIP_DEFLATED, dos_time, dos_date, entry.crc, len(entry.deflated), entry.size,
                  len(entry.name))
        header = _LOCAL_HEADER.pack(0x04034B50, _VERSION, 0, *fields, 0)
        local += (header, entry.name, entry.deflated)
        central += (
            _CENTRAL_HEADER.pack(0x02014B50, _MADE_ON_UNIX | _VERSION, _VERSION, 0, *fields, 0, 0, 0, 0,
                                 _FILE_MODE, offset),
            entry.name,
        )
        offset += len(header) + len(entry.name) + len(entry.deflated)
    directory = b"".join(central)
    end = _END_OF_CENTRAL_DIRECTORY.pack(0x06054B50, 0, 0, len(entries), len(entries), len(directory),
                                         offset, 0)
    return b"".join(local) + directory + end
