"""Archives and compression wrappers: zip (torch, npz, Keras, skops), tar, gzip/bz2/xz/zlib, 7z.

Every member is scanned by content, one level deeper. In a torch zip, the members that a pickle
names as tensor storages (``persistent_load`` ids, exactly how ``torch.load`` finds them) are raw
tensor bytes: they are skipped without being read, which keeps a multi-GB checkpoint fast.
"""

from __future__ import annotations

import importlib.util
import tarfile
from typing import IO, Any, cast

from pipeshield.supplychain.containers.compressed import inflate
from pipeshield.supplychain.containers.zip import looks_like_zip, member_data, read_zip
from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.pickle.analyze import analyse_pickle
from pipeshield.supplychain.results import ScanFinding

__all__ = ["CompressedHandler", "SevenZipHandler", "TarHandler", "ZipHandler"]


def _storage_keys(persistent_ids: list[Any]) -> set[str]:
    keys: set[str] = set()
    for pid in persistent_ids:
        # torch: ('storage', storage_type, key, location, numel)
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[2], str):
            keys.add(pid[2])
    return keys


def _is_pickle_head(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


@register(priority=0)
class ZipHandler:
    name = "zip"

    def sniff(self, data: memoryview) -> bool:
        return looks_like_zip(data)

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        listing = read_zip(data, ctx.limits)
        findings = list(listing.findings)
        budget = ctx.inflated
        pickled: dict[str, list[ScanFinding]] = {}
        storages: set[str] = set()
        rest = []
        for entry in listing.entries:
            if entry.name.endswith("/") and entry.size == 0:
                continue
            head = bytes(data[entry.data_offset:entry.data_offset + 2]) if entry.method == 0 else b""
            if entry.method != 0 or not _is_pickle_head(head):
                rest.append(entry)
                continue
            body, problems = member_data(data, entry, ctx.limits, budget, check_crc=True)
            findings += problems
            if body is None:
                continue
            analysis = analyse_pickle(body, limits=ctx.limits, deadline=ctx.deadline)
            pickled[entry.name] = [f.in_member(entry.name) for f in analysis.findings]
            prefix = entry.name.rsplit("/", 1)[0] + "/" if "/" in entry.name else ""
            storages |= {f"{prefix}data/{k}" for k in _storage_keys(analysis.persistent_ids)}
        for name, found in pickled.items():
            if name not in storages:  # a storage blob that starts like a pickle is never unpickled
                findings += found
        kinds = set()
        for entry in rest:
            if entry.name in storages:
                continue
            body, problems = member_data(data, entry, ctx.limits, budget,
                                         check_crc=entry.size <= (64 << 20))
            findings += problems
            if body is None:
                continue
            scanned = ctx.scan_member(entry.name, body)
            kinds.add(scanned.format)
            findings += scanned.findings
        return Scanned(_zip_kind(pickled, storages, kinds, listing), findings)


def _zip_kind(pickled: dict[str, Any], storages: set[str], kinds: set[str], listing: Any) -> str:
    names = {e.name.rsplit("/", 1)[-1] for e in listing.entries}
    if any(n.endswith("data.pkl") for n in pickled) or storages:
        return "torchscript" if "constants.pkl" in names else "torch-zip"
    if kinds == {"npy"} or kinds == {"npy", "pickle"} and not pickled:
        return "npz"
    if "keras-config" in kinds:
        return "keras"
    if "schema.json" in names:
        return "skops"
    return "zip"


_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "xz"),  # lzma-alone (joblib's lzma)
)


def _zlib_header(data: memoryview) -> bool:
    if len(data) < 2 or data[0] != 0x78:
        return False
    return (data[0] * 256 + data[1]) % 31 == 0


@register(priority=1)
class CompressedHandler:
    name = "compressed"

    def sniff(self, data: memoryview) -> bool:
        head = bytes(data[:6])
        return any(head.startswith(m) for m, _ in _MAGIC) or _zlib_header(data)

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        head = bytes(data[:6])
        codec = next((c for m, c in _MAGIC if head.startswith(m)), "zlib")
        out, problem = inflate(data, codec, ctx.limits, ctx.inflated)
        findings = [problem] if problem is not None else []
        if problem is not None and problem.rule == "PS-ARCHIVE-BOMB":
            return Scanned(codec, findings)
        inner = ctx.scan_member(f"<{codec}>", out)
        return Scanned(f"{codec}+{inner.format}", findings + inner.findings)


@register(priority=2)
class TarHandler:
    name = "tar"

    def sniff(self, data: memoryview) -> bool:
        return len(data) > 262 and bytes(data[257:262]) == b"ustar"

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        findings: list[ScanFinding] = []
        try:
            with tarfile.open(fileobj=cast("IO[bytes]", _View(data)), mode="r:") as tar:
                count = 0
                for member in tar:
                    count += 1
                    if count > ctx.limits.max_members:
                        findings.append(ScanFinding("PS-PKL-LIMIT", "too many tar members; the rest were not scanned"))
                        break
                    if not member.isfile():
                        continue
                    body = data[member.offset_data:member.offset_data + member.size]
                    findings += ctx.scan_member(member.name, body).findings
        except (tarfile.TarError, OSError, ValueError) as err:
            findings.append(ScanFinding("PS-ZIP-CORRUPT", f"tar archive unreadable: {err}"))
        return Scanned("tar", findings)


class _View:
    """A read-only file object over a memoryview, so tarfile never copies the archive."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n is None or n < 0 else min(len(self.data), self.pos + n)
        out = bytes(self.data[self.pos:end])
        self.pos = end
        return out

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else (self.pos + pos if whence == 1 else len(self.data) + pos)
        return self.pos

    def tell(self) -> int:
        return self.pos


@register(priority=3)
class SevenZipHandler:
    name = "7z"

    def sniff(self, data: memoryview) -> bool:
        return bytes(data[:6]) == b"7z\xbc\xaf\x27\x1c"

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        if importlib.util.find_spec("py7zr") is None:
            return Scanned("7z", [ScanFinding(
                "PS-ARCHIVE-UNSUPPORTED", "7z archive: install py7zr to scan its members; not analysed")])
        import io

        import py7zr

        findings: list[ScanFinding] = []
        try:
            with py7zr.SevenZipFile(io.BytesIO(bytes(data)), mode="r") as archive:
                total = sum(i.uncompressed or 0 for i in archive.list())
                if total > ctx.limits.max_decompressed:
                    return Scanned("7z", [ScanFinding("PS-ARCHIVE-BOMB", f"7z members expand to {total} bytes")])
                for name, blob in (archive.readall() or {}).items():
                    findings += ctx.scan_member(name, blob.read()).findings
        except Exception as err:  # noqa: BLE001  (py7zr raises many types for hostile input)
            findings.append(ScanFinding("PS-ZIP-CORRUPT", f"7z archive unreadable: {err}"))
        return Scanned("7z", findings)
