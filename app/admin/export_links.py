"""The "CSV · XLSX" links above each admin table (routes: :mod:`app.api.admin_exports`)."""

from __future__ import annotations

from dash import html

from app.api.admin_exports import export_href


def export_links(table: str, id_prefix: str, **params: object) -> html.Span:
    """Links ``<id_prefix>-csv`` and ``<id_prefix>-xlsx`` to ``/api/exports/admin/<table>.<fmt>``."""
    return html.Span([
        html.A(fmt.upper(), href=export_href(table, fmt, **params), id=f"{id_prefix}-{fmt}", download="",
               className="btn btn-outline-secondary btn-sm py-0 px-2 ms-1")
        for fmt in ("csv", "xlsx")
    ], className="ms-auto")
