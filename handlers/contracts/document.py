"""The structured contract document: what a template produces and both renderers consume.

A template renders to a tiny XML vocabulary, parsed here into blocks:

    <document title="..." number="合同编号">
      <paragraph>text, <b>bold text</b></paragraph>
      <heading>text</heading>                     an unnumbered heading
      <chapter>text</chapter>                     numbered 第一章, 第二章 … in order
      <clause title="短标题">text</clause>         numbered 第一条, 第二条 … in order; title optional
      <item>text</item>                           an indented sub-item of the clause before it
      <table><row><cell header="true">…</cell><cell>…</cell></row></table>
      <signatures>
        <lead>text kept with the signatures</lead>
        <party title="供电人（盖章）"><line>…</line></party>…
      </signatures>
      <appendix>text</appendix>                   numbered 附件一, 附件二 … on a new page
    </document>

``<b>`` may appear in paragraphs, clauses, items and leads: a standard clause that limits the
customer's rights is emphasised (Civil Code art. 496).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree

from handlers.errors import HandlerError

# Template lines are wrapped for reading; in Chinese text a line break is not a space.
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")


@dataclass(frozen=True)
class Span:
    """A run of text, bold or not."""

    text: str
    bold: bool = False


def plain(spans: tuple[Span, ...]) -> str:
    """The text of some spans without their emphasis."""
    return "".join(span.text for span in spans)


@dataclass(frozen=True)
class Paragraph:
    """Plain body text."""

    spans: tuple[Span, ...]

    @property
    def text(self) -> str:
        """The paragraph's text without emphasis."""
        return plain(self.spans)


@dataclass(frozen=True)
class Item:
    """An indented sub-item (（一）…) of the clause before it."""

    spans: tuple[Span, ...]

    @property
    def text(self) -> str:
        """The item's text without emphasis."""
        return plain(self.spans)


@dataclass(frozen=True)
class Heading:
    """A section heading; an appendix heading starts a new page."""

    text: str
    new_page: bool = False


@dataclass(frozen=True)
class Clause:
    """A numbered contract clause; ``number`` is the Chinese ordinal label (第一条)."""

    number: str
    title: str  # the clause's short heading, "" when it has none
    spans: tuple[Span, ...]

    @property
    def text(self) -> str:
        """The clause body without emphasis."""
        return plain(self.spans)

    @property
    def label(self) -> str:
        """Number and heading as printed before the body: 第五条 【供电方式】."""
        return f"{self.number}  【{self.title}】" if self.title else f"{self.number}  "


@dataclass(frozen=True)
class Cell:
    """One table cell."""

    text: str
    header: bool


@dataclass(frozen=True)
class Table:
    """A grid of cells (parties, the key-data table)."""

    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class SignatureParty:
    """One party's signature column."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Signatures:
    """The signature block: lead paragraphs, then one column per party; printed on one page."""

    lead: tuple[Paragraph, ...]
    parties: tuple[SignatureParty, ...]


Block = Paragraph | Item | Heading | Clause | Table | Signatures


@dataclass(frozen=True)
class ContractDocument:
    """A parsed contract: a title, its number (printed on every page) and its blocks in order."""

    title: str
    number: str
    blocks: tuple[Block, ...]

    def texts(self) -> list[str]:
        """Every piece of text in reading order (for checks and tests)."""
        texts = [self.title]
        for block in self.blocks:
            if isinstance(block, (Paragraph, Item, Heading)):
                texts.append(block.text)
            elif isinstance(block, Clause):
                texts.append(f"{block.label}{block.text}")
            elif isinstance(block, Table):
                texts.extend(cell.text for row in block.rows for cell in row)
            else:
                texts.extend(paragraph.text for paragraph in block.lead)
                for party in block.parties:
                    texts.append(party.title)
                    texts.extend(party.lines)
        return texts


def parse_document(source: str, template_name: str) -> ContractDocument:
    """Parse a rendered template into a ContractDocument; an empty element is a template bug."""
    try:
        root = ElementTree.fromstring(source)
    except ElementTree.ParseError as exc:
        raise HandlerError(f"合同模板 {template_name} 生成的结构无法解析：{exc}") from exc
    if root.tag != "document":
        raise HandlerError(f"合同模板 {template_name} 的根元素应为 document，实际为 {root.tag}")
    title = _attribute(root, "title", template_name)
    number = _attribute(root, "number", template_name)
    blocks: list[Block] = []
    counts = {"clause": 0, "chapter": 0, "appendix": 0}
    for element in root:
        tag = element.tag
        if tag in counts:
            counts[tag] += 1
        if tag == "paragraph":
            blocks.append(Paragraph(_spans(element, template_name)))
        elif tag == "item":
            blocks.append(Item(_spans(element, template_name)))
        elif tag == "heading":
            blocks.append(Heading(_text(element, template_name)))
        elif tag == "chapter":
            blocks.append(Heading(f"第{chinese_ordinal(counts[tag])}章  {_text(element, template_name)}"))
        elif tag == "appendix":
            text = _text(element, template_name)
            blocks.append(Heading(f"附件{chinese_ordinal(counts[tag])}  {text}", new_page=True))
        elif tag == "clause":
            heading = (element.get("title") or "").strip()
            blocks.append(Clause(f"第{chinese_ordinal(counts[tag])}条", heading, _spans(element, template_name)))
        elif tag == "table":
            blocks.append(_table(element, template_name))
        elif tag == "signatures":
            blocks.append(_signatures(element, template_name))
        else:
            raise HandlerError(f"合同模板 {template_name} 含未知元素：{tag}")
    return ContractDocument(title, number, tuple(blocks))


def _table(element: ElementTree.Element, template_name: str) -> Table:
    rows = tuple(
        tuple(
            Cell(_text(cell, template_name), cell.get("header") == "true")
            for cell in row.iter("cell")
        )
        for row in element.iter("row")
    )
    return Table(rows)


def _signatures(element: ElementTree.Element, template_name: str) -> Signatures:
    lead = tuple(Paragraph(_spans(line, template_name)) for line in element.iter("lead"))
    parties = tuple(
        SignatureParty(
            _attribute(party, "title", template_name),
            tuple(_text(line, template_name) for line in party.iter("line")),
        )
        for party in element.iter("party")
    )
    return Signatures(lead, parties)


def _spans(element: ElementTree.Element, template_name: str) -> tuple[Span, ...]:
    """The element's text as spans: its own text plain, each ``<b>`` child bold."""
    pieces: list[tuple[str, bool]] = [(element.text or "", False)]
    for child in element:
        if child.tag != "b":
            raise HandlerError(f"合同模板 {template_name} 的 {element.tag} 元素含未知元素：{child.tag}")
        pieces.append(("".join(child.itertext()), True))
        pieces.append((child.tail or "", False))
    spans: list[Span] = []
    for text, bold in pieces:
        text = _LINE_BREAK.sub("", text)
        if not spans:
            text = text.lstrip()
        if not text:
            continue
        if spans and spans[-1].bold == bold:
            spans[-1] = Span(spans[-1].text + text, bold)
        else:
            spans.append(Span(text, bold))
    while spans and not spans[-1].text.rstrip():
        spans.pop()
    if not spans:
        raise HandlerError(f"合同模板 {template_name} 的 {element.tag} 元素内容为空")
    spans[-1] = Span(spans[-1].text.rstrip(), spans[-1].bold)
    return tuple(spans)


def _text(element: ElementTree.Element, template_name: str) -> str:
    text = _LINE_BREAK.sub("", "".join(element.itertext())).strip()
    if not text:
        raise HandlerError(f"合同模板 {template_name} 的 {element.tag} 元素内容为空")
    return text


def _attribute(element: ElementTree.Element, name: str, template_name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise HandlerError(f"合同模板 {template_name} 的 {element.tag} 元素缺少 {name} 属性")
    return value


_DIGITS = "零一二三四五六七八九"


def chinese_ordinal(number: int) -> str:
    """Return the Chinese numeral for 1–99 as used in clause numbers (1 → 一, 12 → 十二, 20 → 二十)."""
    if not 1 <= number <= 99:
        raise ValueError(f"clause number out of range: {number}")
    tens, units = divmod(number, 10)
    if tens == 0:
        return _DIGITS[units]
    prefix = "十" if tens == 1 else _DIGITS[tens] + "十"
    return prefix + (_DIGITS[units] if units else "")
