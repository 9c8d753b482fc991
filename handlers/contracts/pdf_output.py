"""PDF rendering of a contract's stored HTML, with WeasyPrint."""

from __future__ import annotations


def render_pdf(html: str) -> bytes:
    """Render an HTML contract page to PDF bytes (needs a CJK font such as fonts-wqy-zenhei)."""
    # Imported here: WeasyPrint takes about a second to import and only PDF downloads need it.
    from weasyprint import HTML

    pdf = HTML(string=html).write_pdf()
    if pdf is None:  # write_pdf returns None only when given a target to write to
        raise RuntimeError("WeasyPrint returned no PDF bytes")
    return pdf
