"""RFC 6962 hashing and proofs: hand-computed trees, the Certificate Transparency test vectors, and
the RFC's properties for every size 1..64 (all proofs verify, every tampered proof fails)."""

from __future__ import annotations

import hashlib

import pytest

from pipeshield.gateway.audit_log import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# the eight leaves of certificate-transparency's (and Go's) merkle tests, with their published roots
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58)),
             bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_CONSISTENCY = {
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}
CT_LEAF_HASHES = [leaf_hash(x) for x in CT_LEAVES]


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"record {i}".encode()) for i in range(n)]


def test_hand_computed_small_trees() -> None:
    a, b, c, d, e = (_h(b"\x00" + x) for x in (b"a", b"b", b"c", b"d", b"e"))
    assert leaf_hash(b"a") == a
    assert root([]) == EMPTY_ROOT == _h(b"")
    assert root([a]) == a
    ab = _h(b"\x01" + a + b)
    assert root([a, b]) == ab
    assert root([a, b, c]) == _h(b"\x01" + ab + c)  # split at 2: ((a b) c), not (a (b c))
    abcd = _h(b"\x01" + ab + _h(b"\x01" + c + d))
    assert root([a, b, c, d]) == abcd
    assert root([a, b, c, d, e]) == _h(b"\x01" + abcd + e)
    assert inclusion_proof([a, b, c], 2) == [ab]
    assert inclusion_proof([a, b, c], 0) == [b, c]
    assert consistency_proof([a, b, c], 2) == [c]  # old size 2 is a power of two: only the new part
    assert consistency_proof([a, b, c, d, e], 3) == [c, d, ab, e]


def test_certificate_transparency_vectors() -> None:
    for n, expected in enumerate(CT_ROOTS, start=1):
        assert root(CT_LEAF_HASHES[:n]).hex() == expected
    for (m, n), expected in CT_CONSISTENCY.items():
        proof = consistency_proof(CT_LEAF_HASHES, m, n)
        assert [p.hex() for p in proof] == expected
        verify_consistency(m, n, bytes.fromhex(CT_ROOTS[m - 1]), bytes.fromhex(CT_ROOTS[n - 1]), proof)


def test_compact_range_matches_the_recursive_definition() -> None:
    leaves = _leaves(70)
    rng = CompactRange()
    for n in range(1, 71):
        rng.append(leaves[n - 1])
        assert rng.root() == root(leaves[:n])
        assert len(rng.stack) == bin(n).count("1")
        assert CompactRange.from_bytes(n, rng.to_bytes()).root() == rng.root()
    with pytest.raises(ValueError):
        CompactRange(3, [leaves[0]])


def _tampered(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for j in range(len(proof)):
        flipped = list(proof)
        flipped[j] = bytes([proof[j][0] ^ 1]) + proof[j][1:]
        out.append(flipped)
    if proof:
        out += [proof[:-1], proof[1:], [*proof, proof[-1]]]
        if len(proof) > 1:
            out.append(proof[::-1])
    else:
        out.append([bytes(32)])
    return out


def test_every_inclusion_proof_up_to_64_verifies_and_tampering_fails() -> None:
    leaves = _leaves(64)
    for n in range(1, 65):
        r = root(leaves[:n])
        for i in range(n):
            proof = inclusion_proof(leaves, i, n)
            verify_inclusion(leaves[i], i, n, proof, r)
            for bad in _tampered(proof):
                with pytest.raises(ProofError):
                    verify_inclusion(leaves[i], i, n, bad, r)
            with pytest.raises(ProofError):  # the right path for the wrong leaf, index or size
                verify_inclusion(leaf_hash(b"forged"), i, n, proof, r)
            if n > 1:
                with pytest.raises(ProofError):
                    verify_inclusion(leaves[i], (i + 1) % n, n, proof, r)
            if n < 64:  # the proof for size n against the root of size n + 1
                with pytest.raises(ProofError):
                    verify_inclusion(leaves[i], i, n + 1, proof, root(leaves[:n + 1]))


def test_every_consistency_proof_up_to_64_verifies_and_tampering_fails() -> None:
    leaves = _leaves(64)
    roots = [root(leaves[:n]) for n in range(65)]
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = consistency_proof(leaves, m, n)
            verify_consistency(m, n, roots[m], roots[n], proof)
            for bad in _tampered(proof):
                with pytest.raises(ProofError):
                    verify_consistency(m, n, roots[m], roots[n], bad)
            if m < n:
                with pytest.raises(ProofError):  # a different old tree (a rewritten prefix) does not extend
                    verify_consistency(m, n, leaf_hash(b"other"), roots[n], proof)
                with pytest.raises(ProofError):
                    verify_consistency(m, n, roots[m], roots[n - 1], proof)


def test_empty_and_out_of_range() -> None:
    leaves = _leaves(4)
    verify_consistency(0, 4, EMPTY_ROOT, root(leaves), [])
    with pytest.raises(ValueError):
        inclusion_proof(leaves, 4)
    with pytest.raises(ValueError):
        consistency_proof(leaves, 5)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_consistency(3, 2, EMPTY_ROOT, EMPTY_ROOT, [])
