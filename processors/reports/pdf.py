"""The HTML page as a PDF (WeasyPrint: CSS paged media, A4, page numbers)."""

from __future__ import annotations

import logging

from weasyprint import HTML

# WeasyPrint logs every CSS property it ignores at WARNING; the page is ours and tested.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def to_pdf(html: str) -> bytes:
    # No base_url: the page is self-contained (charts are data URIs), so nothing is fetched.
    return HTML(string=html).write_pdf()
