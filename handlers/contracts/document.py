"""The structured contract document: what a template produces and both renderers consume.

A template renders to a tiny XML vocabulary, parsed here into blocks:

    <document title="...">
      <paragraph>text</paragraph>
      <heading>text</heading>
      <clause>text</clause>                       numbered 第一条, 第二条 … in order
      <table><row><cell header="true">…</cell><cell>…</cell></row></table>
      <signatures><party title="供电人（盖章）"><line>…</line></party>…</signatures>
    </document>
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree

from handlers.errors import HandlerError

# Template lines are wrapped for reading; in Chinese text a line break is not a space.
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")


@dataclass(frozen=True)
class Paragraph:
    """Plain body text."""

    text: str


@dataclass(frozen=True)
class Heading:
    """A section heading."""

    text: str


@dataclass(frozen=True)
class Clause:
    """A numbered contract clause; ``number`` is the Chinese ordinal label (第一条)."""

    number: str
    text: str


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
    """The signature block, one column per party."""

    parties: tuple[SignatureParty, ...]


Block = Paragraph | Heading | Clause | Table | Signatures


@dataclass(frozen=True)
class ContractDocument:
    """A parsed contract: a title and its blocks in order."""

    title: str
    blocks: tuple[Block, ...]

    def texts(self) -> list[str]:
        """Every piece of text in reading order (for checks and tests)."""
        texts = [self.title]
        for block in self.blocks:
            if isinstance(block, (Paragraph, Heading)):
                texts.append(block.text)
            elif isinstance(block, Clause):
                texts.append(f"{block.number} {block.text}")
            elif isinstance(block, Table):
                texts.extend(cell.text for row in block.rows for cell in row)
            else:
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
    blocks: list[Block] = []
    clause_count = 0
    for element in root:
        if element.tag == "paragraph":
            blocks.append(Paragraph(_text(element, template_name)))
        elif element.tag == "heading":
            blocks.append(Heading(_text(element, template_name)))
        elif element.tag == "clause":
            clause_count += 1
            blocks.append(Clause(f"第{chinese_ordinal(clause_count)}条", _text(element, template_name)))
        elif element.tag == "table":
            blocks.append(_table(element, template_name))
        elif element.tag == "signatures":
            blocks.append(_signatures(element, template_name))
        else:
            raise HandlerError(f"合同模板 {template_name} 含未知元素：{element.tag}")
    return ContractDocument(title, tuple(blocks))


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
    parties = tuple(
        SignatureParty(
            _attribute(party, "title", template_name),
            tuple(_text(line, template_name) for line in party.iter("line")),
        )
        for party in element.iter("party")
    )
    return Signatures(parties)


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
