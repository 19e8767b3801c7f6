"""The OSV API (``https://api.osv.dev``) as a vulnerability service, over :mod:`httpx`.

``POST /v1/querybatch`` takes up to 1,000 ``{"package": {"name", "ecosystem"}, "version"}``
queries and answers, per query, only ``{"vulns": [{"id", "modified"}]}`` and, for long answers,
a ``next_page_token``; those queries are asked again with ``page_token`` until no token is left.
Each distinct id is then fetched once with ``GET /v1/vulns/{id}`` and matched locally with the same
matcher as the offline database, so both services report the same fixed versions and severity.

Secure defaults: TLS verification on, a 30 s timeout, no retries that could hide an outage. Pass
``transport=httpx.MockTransport(handler)`` in tests: no network.

    >>> OnlineOSV().query([dep])                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from pipeshield import __version__
from pipeshield.supplychain.deps.model import Dependency
from pipeshield.supplychain.deps.osv import ECOSYSTEM, Match, check_record, match
from pipeshield.supplychain.deps.services import AdvisoryServiceError

__all__ = ["API_URL", "OnlineOSV"]

API_URL = "https://api.osv.dev"
BATCH = 1000
_MAX_PAGES = 100


class OnlineOSV:
    """Ask the OSV API; ``transport`` replaces the network (tests use ``httpx.MockTransport``)."""

    def __init__(self, *, base_url: str = API_URL, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.transport = transport

    @property
    def name(self) -> str:
        return f"osv-api:{self.base_url}"

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=self.timeout_s, transport=self.transport,
                            headers={"User-Agent": f"pipeshield/{__version__}"}, verify=True)

    def _call(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = client.request(method, url, **kwargs)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as err:
            raise AdvisoryServiceError(f"OSV API {method} {url}: HTTP {err.response.status_code}") from None
        except httpx.HTTPError as err:
            raise AdvisoryServiceError(f"OSV API {method} {url}: {type(err).__name__}: {err}",
                                       hint="use --osv-db with an offline OSV export") from None
        except ValueError:
            raise AdvisoryServiceError(f"OSV API {method} {url}: the answer is not JSON") from None

    def _ids(self, client: httpx.Client, deps: list[Dependency]) -> dict[Dependency, list[str]]:
        ids: dict[Dependency, list[str]] = {d: [] for d in deps}
        for start in range(0, len(deps), BATCH):
            pending: dict[int, str | None] = {i: None for i in range(start, min(start + BATCH, len(deps)))}
            for _ in range(_MAX_PAGES):
                order = list(pending)
                queries = []
                for i in order:
                    q: dict[str, Any] = {"package": {"name": deps[i].name, "ecosystem": ECOSYSTEM},
                                         "version": deps[i].version}
                    if pending[i]:
                        q["page_token"] = pending[i]
                    queries.append(q)
                answer = self._call(client, "POST", "/v1/querybatch", json={"queries": queries})
                results = answer.get("results") if isinstance(answer, dict) else None
                if not isinstance(results, list) or len(results) != len(order):
                    raise AdvisoryServiceError("OSV API querybatch: answer does not have one result per query")
                pending = {}
                for i, result in zip(order, results, strict=True):
                    ids[deps[i]] += [v["id"] for v in (result or {}).get("vulns") or [] if isinstance(v, dict) and "id" in v]
                    if (result or {}).get("next_page_token"):
                        pending[i] = result["next_page_token"]
                if not pending:
                    break
            else:
                raise AdvisoryServiceError(f"OSV API querybatch: more than {_MAX_PAGES} pages of results")
        return ids

    def query(self, dependencies: Sequence[Dependency]) -> dict[Dependency, list[Match]]:
        deps = [d for d in dependencies if d.version is not None]
        if not deps:
            return {}
        with self._client() as client:
            ids = self._ids(client, deps)
            records: dict[str, dict[str, Any]] = {}
            for vuln_id in sorted({i for found in ids.values() for i in found}):
                records[vuln_id] = check_record(self._call(client, "GET", f"/v1/vulns/{vuln_id}"), f"OSV API {vuln_id}")
        out: dict[Dependency, list[Match]] = {}
        for dep, found in ids.items():
            assert dep.version is not None
            out[dep] = [m for i in dict.fromkeys(found) if (m := match(records[i], dep.name, dep.version))]
        return out
