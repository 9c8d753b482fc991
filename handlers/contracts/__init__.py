"""Contract generation: one structured Jinja template per kind, rendered to DOCX and HTML.

Each kind's template (``templates/<kind>.xml.j2``) produces the small document vocabulary of
:mod:`handlers.contracts.document`; that one parsed document is written out both as DOCX and as
HTML, so a contract's wording lives in exactly one place. PDFs are made later, from the stored
HTML, by :func:`render_pdf`. The templates are the legal team's files: the wording is there, and
Python only supplies the application's values (:mod:`handlers.contracts.fields`).

A dual-supply large customer signs a dispatch agreement together with the HV supply contract:
generating ``hv_supply`` for one also generates ``hv_dispatch``, listed under
``companion_contracts`` in the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from handlers.context import HandlerContext
from handlers.contracts.document import ContractDocument, parse_document
from handlers.contracts.docx_output import render_docx
from handlers.contracts.fields import contract_fields, needs_dispatch_agreement
from handlers.contracts.html_output import render_html
from handlers.contracts.kinds import CONTRACT_KINDS, ContractKind
from handlers.contracts.pdf_output import render_pdf
from handlers.errors import HandlerError

__all__ = ["CONTRACT_KINDS", "build_contract", "generate_contract", "render_pdf"]

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML_MEDIA_TYPE = "text/html"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # the templates produce XML; customer data must not become markup
    undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly instead of printing a blank
    keep_trailing_newline=True,
)


def build_contract(ctx: HandlerContext, contract_kind: str) -> ContractDocument:
    """Render the ``contract_kind`` template over the application's data into a structured document."""
    kind = _kind_for(ctx, contract_kind)
    fields = contract_fields(kind, ctx)
    source = _TEMPLATES.get_template(kind.template).render(**fields)
    return parse_document(source, kind.template)


def generate_contract(ctx: HandlerContext, contract_kind: str) -> dict[str, Any]:
    """Render the contract as DOCX and HTML, store both, and return their document ids."""
    result = _store(ctx, contract_kind, build_contract(ctx, contract_kind))
    if contract_kind == "hv_supply" and needs_dispatch_agreement(ctx):
        # Signed with it; stored in the same step (a failure there rolls both back).
        result["companion_contracts"] = [_store(ctx, "hv_dispatch", build_contract(ctx, "hv_dispatch"))]
    return result


def _store(ctx: HandlerContext, kind: str, document: ContractDocument) -> dict[str, Any]:
    """Save a contract's DOCX and HTML; return its kind, title and document ids."""
    stem = f"{ctx.application_no}_{kind}"
    docx_bytes = render_docx(document, author=ctx.settings.supplier_name, timestamp=ctx.now)
    html_bytes = render_html(document).encode("utf-8")
    documents = {
        "docx": ctx.services.save_document(kind, f"{stem}.docx", DOCX_MEDIA_TYPE, docx_bytes),
        "html": ctx.services.save_document(kind, f"{stem}.html", HTML_MEDIA_TYPE, html_bytes),
    }
    return {"kind": kind, "title": document.title, "documents": documents}


def _kind_for(ctx: HandlerContext, contract_kind: Any) -> ContractKind:
    kind = CONTRACT_KINDS.get(contract_kind) if isinstance(contract_kind, str) else None
    if kind is None:
        raise HandlerError(
            f"未知的合同类型：{contract_kind!r}（可用：{'、'.join(CONTRACT_KINDS)}）", "contract_kind"
        )
    if ctx.variant not in kind.variants:
        raise HandlerError(
            f"{kind.title}不适用于 {ctx.variant!r} 类业务（适用：{'、'.join(sorted(kind.variants))}）",
            "contract_kind",
        )
    return kind
