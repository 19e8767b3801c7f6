"""A zip reader that sees what torch sees, including the archives Python's ``zipfile`` refuses.

torch's reader (miniz) finds members through the central directory, reads the data at each
member's local-header offset, and does not care about CRCs, encryption flag bits or a local
header whose name differs from the central one. ``zipfile`` raises on all of these, which is why
scanners built on it were bypassed (GHSA-w8jq-xcqf-f792, GHSA-7q5r-7gvp-wc82). This module reads
the structures itself, reports each anomaly, and falls back to walking local headers when the
central directory is missing or broken. Stored members are returned as zero-copy slices, so a
1 GB checkpoint's tensor blobs are never read.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from pipeshield.supplychain.containers.compressed import inflate
from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.results import ScanFinding

__all__ = ["ZipEntry", "ZipListing", "looks_like_zip", "member_data", "read_zip"]

_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_SUSPICIOUS_FLAGS = 0x1 | 0x20 | 0x40


@dataclass
class ZipEntry:
    name: str
    local_name: str
    header_offset: int
    data_offset: int
    method: int
    flags: int
    compressed_size: int
    size: int
    crc: int


@dataclass
class ZipListing:
    entries: list[ZipEntry] = field(default_factory=list)
    findings: list[ScanFinding] = field(default_factory=list)


def looks_like_zip(data: memoryview) -> bool:
    if bytes(data[:4]) in (_LOCAL, _EOCD):
        return True
    eocd = _find_eocd(data)
    if eocd < 22:
        return False
    cd_size = _u32(data, eocd + 12)
    # A self-extractor stub or junk before the archive: the central directory still ends at EOCD.
    return 0 < cd_size <= eocd and bytes(data[eocd - cd_size:eocd - cd_size + 4]) == _CENTRAL


def _find_eocd(data: memoryview) -> int:
    start = max(0, len(data) - 65557)
    found = bytes(data[start:]).rfind(_EOCD)
    return found + start if found >= 0 else -1


def _u16(data: memoryview, at: int) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _u32(data: memoryview, at: int) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _u64(data: memoryview, at: int) -> int:
    return int(struct.unpack_from("<Q", data, at)[0])


def _name(raw: memoryview, flags: int) -> str:
    return bytes(raw).decode("utf-8" if flags & 0x800 else "cp437", "replace")


def read_zip(data: memoryview, limits: ScanLimits) -> ZipListing:
    """Every member as torch would find it, plus a finding per structural anomaly."""
    listing = ZipListing()
    eocd = _find_eocd(data)
    try:
        if eocd < 0:
            raise ValueError("no end-of-central-directory record")
        _read_central(data, eocd, limits, listing)
    except (ValueError, struct.error) as err:
        listing.entries.clear()
        listing.findings.append(ScanFinding(
            "PS-ZIP-CORRUPT", f"zip central directory unreadable ({err}); members were found by "
            "walking local headers"))
        _walk_local(data, limits, listing)
    for entry in listing.entries:
        if entry.local_name != entry.name:
            listing.findings.append(ScanFinding(
                "PS-ZIP-MISMATCH", f"central directory names {entry.name!r} but its local header "
                f"names {entry.local_name!r}", member=entry.name))
        if entry.flags & _SUSPICIOUS_FLAGS:
            listing.findings.append(ScanFinding(
                "PS-ZIP-FLAGS", f"flag bits 0x{entry.flags & _SUSPICIOUS_FLAGS:x} set (zipfile refuses "
                "the member; torch reads it)", member=entry.name))
    return listing


def _read_central(data: memoryview, eocd: int, limits: ScanLimits, listing: ZipListing) -> None:
    total = _u16(data, eocd + 10)
    cd_size = _u32(data, eocd + 12)
    cd_offset = _u32(data, eocd + 16)
    if (total == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF) and eocd >= 20 \
            and bytes(data[eocd - 20:eocd - 16]) == _ZIP64_LOCATOR:
        z64 = _u64(data, eocd - 20 + 8)
        if bytes(data[z64:z64 + 4]) != _ZIP64_EOCD:
            raise ValueError("bad zip64 end record")
        total, cd_size, cd_offset = _u64(data, z64 + 32), _u64(data, z64 + 40), _u64(data, z64 + 48)
    # Data before the archive (a stub, or padding) shifts every offset; miniz tolerates it.
    shift = eocd - cd_size - cd_offset if bytes(data[cd_offset:cd_offset + 4]) != _CENTRAL else 0
    if total > limits.max_members:
        raise ValueError(f"{total} members exceeds the limit of {limits.max_members}")
    pos = cd_offset + shift
    for _ in range(total):
        if bytes(data[pos:pos + 4]) != _CENTRAL:
            raise ValueError(f"bad central directory entry at offset {pos}")
        flags, method = _u16(data, pos + 8), _u16(data, pos + 10)
        crc, csize, usize = _u32(data, pos + 16), _u32(data, pos + 20), _u32(data, pos + 24)
        nlen, elen, clen = _u16(data, pos + 28), _u16(data, pos + 30), _u16(data, pos + 32)
        lho = _u32(data, pos + 42)
        name = _name(data[pos + 46:pos + 46 + nlen], flags)
        extra = data[pos + 46 + nlen:pos + 46 + nlen + elen]
        usize, csize, lho = _zip64_extra(extra, usize, csize, lho)
        pos += 46 + nlen + elen + clen
        lho += shift
        if bytes(data[lho:lho + 4]) != _LOCAL:
            raise ValueError(f"member {name!r}: no local header at offset {lho}")
        lflags = _u16(data, lho + 6)
        lnlen, lelen = _u16(data, lho + 26), _u16(data, lho + 28)
        local_name = _name(data[lho + 30:lho + 30 + lnlen], lflags)
        start = lho + 30 + lnlen + lelen
        if start + csize > len(data):
            raise ValueError(f"member {name!r} runs past the end of the file")
        listing.entries.append(ZipEntry(name, local_name, lho, start, method, flags, csize, usize, crc))


def _zip64_extra(extra: memoryview, usize: int, csize: int, lho: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, size = _u16(extra, at), _u16(extra, at + 2)
        if tag == 0x0001:
            field_at = at + 4
            if usize == 0xFFFFFFFF and field_at + 8 <= len(extra):
                usize, field_at = _u64(extra, field_at), field_at + 8
            if csize == 0xFFFFFFFF and field_at + 8 <= len(extra):
                csize, field_at = _u64(extra, field_at), field_at + 8
            if lho == 0xFFFFFFFF and field_at + 8 <= len(extra):
                lho = _u64(extra, field_at)
        at += 4 + size
    return usize, csize, lho


def _walk_local(data: memoryview, limits: ScanLimits, listing: ZipListing) -> None:
    raw = bytes(data[: min(len(data), 1 << 31)]) if len(data) < (64 << 20) else None
    pos = 0
    while pos + 30 <= len(data) and bytes(data[pos:pos + 4]) == _LOCAL:
        if len(listing.entries) >= limits.max_members:
            break
        flags, method = _u16(data, pos + 6), _u16(data, pos + 8)
        crc, csize, usize = _u32(data, pos + 14), _u32(data, pos + 18), _u32(data, pos + 22)
        nlen, elen = _u16(data, pos + 26), _u16(data, pos + 28)
        name = _name(data[pos + 30:pos + 30 + nlen], flags)
        start = pos + 30 + nlen + elen
        if flags & 0x8 and csize == 0:
            # Sizes follow the data (data descriptor): the data ends where the next header starts.
            hay = raw if raw is not None else bytes(data[start:start + (64 << 20)])
            base = 0 if raw is not None else start
            nxt = [i for i in (hay.find(_LOCAL, start - base), hay.find(_CENTRAL, start - base)) if i >= 0]
            end = (min(nxt) + base) if nxt else len(data)
            csize = end - start
            if end - start >= 16 and bytes(data[end - 16:end - 12]) == b"PK\x07\x08":
                csize -= 16
        if start + csize > len(data):
            listing.findings.append(ScanFinding("PS-ZIP-CORRUPT", f"member {name!r} is truncated", member=name))
            csize = len(data) - start
        crc = -1 if flags & 0x8 else crc  # the real CRC is in the descriptor
        listing.entries.append(ZipEntry(name, name, pos, start, method, flags, csize, usize, crc))
        pos = start + csize
        while pos < len(data) and bytes(data[pos:pos + 4]) == b"PK\x07\x08":
            pos += 16


def member_data(data: memoryview, entry: ZipEntry, limits: ScanLimits, budget: list[int],
                check_crc: bool = False) -> tuple[memoryview | bytes | None, list[ScanFinding]]:
    """The member's bytes (a zero-copy slice when stored), or None with a finding."""
    raw = data[entry.data_offset:entry.data_offset + entry.compressed_size]
    findings: list[ScanFinding] = []
    if entry.method == 0:
        out: memoryview | bytes = raw
    elif entry.method in (8, 12, 14):
        codec = {8: "deflate", 12: "bz2", 14: "xz"}[entry.method]
        out, problem = inflate(raw, codec, limits, budget)
        if problem is not None:
            findings.append(problem.in_member(entry.name))
            if problem.rule == "PS-ARCHIVE-BOMB":
                return None, findings
    else:
        findings.append(ScanFinding("PS-ARCHIVE-UNSUPPORTED",
                                    f"compression method {entry.method} is not supported", member=entry.name))
        return None, findings
    if check_crc and entry.crc >= 0 and zlib.crc32(out) != entry.crc:
        findings.append(ScanFinding("PS-ZIP-CRC", f"CRC-32 mismatch (stored {entry.crc:08x}, "
                                    f"actual {zlib.crc32(out):08x})", member=entry.name))
    return out, findings
