"""``report.json``: the stable machine-readable report (schema: ``report.schema.json``)."""

from __future__ import annotations

from pipeshield.report import register_format
from pipeshield.report.model import Report


@register_format("json", "report.json")
def render_json(report: Report) -> str:
    return report.to_json()
