"""Both vulnerability services: the offline OSV export (folder and zip) and the OSV API (mocked)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeshield.errors import ArtifactError
from pipeshield.supplychain.deps import AdvisoryServiceError, Dependency, OfflineOSV, OnlineOSV


def _dep(name: str, version: str | None) -> Dependency:
    return Dependency(name=name, version=version, source="requirements.txt", line=1)


def _ids(result: dict[Dependency, list[Any]], dep: Dependency) -> set[str]:
    return {m.advisory.id for m in result[dep]}


def test_offline_folder_matches_the_reference_facts(osv_dir: Path) -> None:
    db = OfflineOSV(osv_dir)
    deps = [_dep("torch", "2.5.1"), _dep("torch", "2.2.2"), _dep("torch", "2.6.0"), _dep("keras", "2.12.0"),
            _dep("keras", "3.8.0"), _dep("Keras", "3.9.0"), _dep("transformers", "4.37.2"), _dep("onnx", "1.15.0"),
            _dep("onnx", "1.12.0"), _dep("llama_cpp_python", "0.2.71"), _dep("llama-cpp-python", "0.2.72"),
            _dep("llama-cpp-python", "0.2.29"), _dep("ray", "2.40.0"), _dep("numpy", "2.4.6"), _dep("torch", None)]
    result = db.query(deps)
    assert _ids(result, deps[0]) == {"GHSA-53q9-r3pm-6pq6"}
    assert _ids(result, deps[1]) == {"GHSA-53q9-r3pm-6pq6", "CVE-2024-5480"}
    assert _ids(result, deps[2]) == set()
    assert _ids(result, deps[3]) == {"GHSA-x4wf-678h-2pmq"}
    assert _ids(result, deps[4]) == {"GHSA-48g7-3x6r-xfhp"}
    assert _ids(result, deps[5]) == set()
    assert _ids(result, deps[6]) == {"GHSA-37q5-v5qm-c9v8"}
    assert _ids(result, deps[7]) == {"CVE-2024-27318"}
    assert _ids(result, deps[8]) == {"CVE-2024-27318", "CVE-2022-25882"}
    assert _ids(result, deps[9]) == {"GHSA-56xg-wfcc-g829"}
    assert _ids(result, deps[10]) == _ids(result, deps[11]) == set()
    assert _ids(result, deps[12]) == {"CVE-2023-48022"} and result[deps[12]][0].fixed == ()
    assert _ids(result, deps[13]) == set()
    assert deps[14] not in result  # no version: nothing to ask
    torch = result[deps[0]][0]
    assert torch.fixed == ("2.6.0",) and "CVE-2025-32434" in torch.advisory.aliases


def test_offline_zip_like_osv_publishes(osv_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(osv_dir.glob("*.json")):
            zf.write(path, path.name)
    dep = _dep("onnx", "1.15.0")
    assert _ids(OfflineOSV(archive).query([dep]), dep) == {"CVE-2024-27318"}


def test_unreadable_databases_are_usage_errors(osv_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="OSV database not found"):
        OfflineOSV(tmp_path / "missing")
    broken = tmp_path / "broken"
    shutil.copytree(osv_dir, broken)
    (broken / "bad.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"bad.json: not valid JSON"):
        OfflineOSV(broken).query([_dep("torch", "2.5.1")])
    (broken / "bad.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match=r"bad.json: not an OSV record"):
        OfflineOSV(broken).query([_dep("torch", "2.5.1")])
    not_zip = tmp_path / "all.zip"
    not_zip.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ArtifactError, match="not a readable OSV zip export"):
        OfflineOSV(not_zip).query([_dep("torch", "2.5.1")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArtifactError, match="no OSV records found"):
        OfflineOSV(empty).query([_dep("torch", "2.5.1")])


def _api(osv_dir: Path, seen: list[httpx.Request], page_size: int = 1) -> httpx.MockTransport:
    """A fake api.osv.dev: querybatch answers one id per page (to exercise pagination)."""
    records = {p.stem: json.loads(p.read_text()) for p in osv_dir.glob("*.json")}
    by_package: dict[str, list[str]] = {}
    for rid, rec in records.items():
        by_package.setdefault(rec["affected"][0]["package"]["name"], []).append(rid)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/querybatch":
            results = []
            for q in json.loads(request.content)["queries"]:
                ids = sorted(by_package.get(q["package"]["name"], []))
                start = int(q.get("page_token", "0"))
                page = ids[start:start + page_size]
                result: dict[str, Any] = {"vulns": [{"id": i, "modified": "2025-01-01T00:00:00Z"} for i in page]}
                if start + page_size < len(ids):
                    result["next_page_token"] = str(start + page_size)
                results.append(result)
            return httpx.Response(200, json={"results": results})
        if request.url.path.startswith("/v1/vulns/"):
            return httpx.Response(200, json=records[request.url.path.rsplit("/", 1)[-1]])
        return httpx.Response(404, json={"message": "not found"})

    return httpx.MockTransport(handler)


def test_online_querybatch_shape_pagination_and_local_matching(osv_dir: Path) -> None:
    seen: list[httpx.Request] = []
    service = OnlineOSV(transport=_api(osv_dir, seen))
    torch_old, torch_new, numpy = _dep("torch", "2.2.2"), _dep("torch", "2.6.0"), _dep("numpy", "2.4.6")
    result = service.query([torch_old, torch_new, numpy, _dep("keras", None)])
    first = json.loads(seen[0].content)
    assert seen[0].method == "POST" and seen[0].url == "https://api.osv.dev/v1/querybatch"
    assert first == {"queries": [
        {"package": {"name": "torch", "ecosystem": "PyPI"}, "version": "2.2.2"},
        {"package": {"name": "torch", "ecosystem": "PyPI"}, "version": "2.6.0"},
        {"package": {"name": "numpy", "ecosystem": "PyPI"}, "version": "2.4.6"},
    ]}
    second = json.loads(seen[1].content)  # only the paginated queries are asked again, with their token
    assert [q["page_token"] for q in second["queries"]] == ["1", "1"]
    assert _ids(result, torch_old) == {"GHSA-53q9-r3pm-6pq6", "CVE-2024-5480"}
    assert _ids(result, torch_new) == set()  # the API's candidates are re-matched locally
    assert result[numpy] == []
    fetched = [r.url.path for r in seen if r.method == "GET"]
    assert sorted(fetched) == ["/v1/vulns/CVE-2024-5480", "/v1/vulns/GHSA-53q9-r3pm-6pq6"]  # each id once
    assert all(r.headers["user-agent"].startswith("pipeshield/") for r in seen)


def test_online_failures_are_pipeshield_errors(osv_dir: Path) -> None:
    down = OnlineOSV(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    with pytest.raises(AdvisoryServiceError, match="HTTP 503"):
        down.query([_dep("torch", "2.5.1")])

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    with pytest.raises(AdvisoryServiceError, match="ConnectError"):
        OnlineOSV(transport=httpx.MockTransport(refuse)).query([_dep("torch", "2.5.1")])
    short = OnlineOSV(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"results": []})))
    with pytest.raises(AdvisoryServiceError, match="one result per query"):
        short.query([_dep("torch", "2.5.1")])
