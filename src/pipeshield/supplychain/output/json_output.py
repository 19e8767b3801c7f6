"""``--format json``: ``{"files": [{"path", "format", "verdict", "size", "findings", "note"}]}``.

Each finding is ``{"rule", "severity", "message", "callable", "offset", "member", "references"}``;
``member`` locates a finding inside an archive (nested members joined with ``!``). The shape is
stable: keys are only ever added.
"""

from __future__ import annotations

import json

from pipeshield.supplychain.output import register
from pipeshield.supplychain.results import ScanResult

__all__ = ["render_json"]


@register("json")
def render_json(result: ScanResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
