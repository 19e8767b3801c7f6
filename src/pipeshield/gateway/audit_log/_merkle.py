"""RFC 6962 Merkle tree hashing, inclusion and consistency proofs, and their verification.

Everything works on *leaf hashes* (``leaf_hash(data)``), which is what the store keeps, so a proof
or a root over ``n`` records costs O(n) hashing and never re-reads the records themselves.

- ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)`` (RFC 6962
  §2.1): the prefixes keep a leaf from being passed off as an interior node (second preimages).
- ``root(leaves)`` is the RFC's MTH: for ``n > 1`` split at ``k``, the largest power of two below
  ``n``; the empty tree's root is ``SHA-256("")``.
- ``inclusion_proof`` / ``consistency_proof`` are §2.1.1 PATH and §2.1.2 PROOF; the verifiers are
  the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 and raise :class:`ProofError`.
- :class:`CompactRange` is the incremental form: the roots of the perfect subtrees that make up a
  tree of any size (one per set bit of the size), so appending is O(1) amortised and the root is
  O(log n). The store caches it, so ``checkpoint()`` never re-reads the log.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(7)]
    >>> verify_inclusion(leaves[3], 3, 7, inclusion_proof(leaves, 3), root(leaves))
    >>> verify_consistency(3, 7, root(leaves[:3]), root(leaves), consistency_proof(leaves, 3))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
_HASH_SIZE = 32


class ProofError(ValueError):
    """A Merkle proof does not verify (or is malformed for the sizes given)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The perfect-subtree roots of a tree of ``size`` leaves, largest (leftmost) first."""

    __slots__ = ("size", "_stack")

    def __init__(self, size: int = 0, stack: Sequence[bytes] = ()) -> None:
        if size < 0 or len(stack) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} holds {bin(size).count('1')} hashes, not {len(stack)}")
        self.size = size
        self._stack = list(stack)

    @property
    def stack(self) -> tuple[bytes, ...]:
        return tuple(self._stack)

    def append(self, leaf: bytes) -> None:
        self._stack.append(leaf)
        carry = self.size
        while carry & 1:  # merge equal-size subtrees, like a binary counter's carries
            right = self._stack.pop()
            self._stack[-1] = node_hash(self._stack[-1], right)
            carry >>= 1
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1]
        for h in reversed(self._stack[:-1]):
            acc = node_hash(h, acc)
        return acc

    def to_bytes(self) -> bytes:
        return b"".join(self._stack)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> CompactRange:
        if len(data) % _HASH_SIZE:
            raise ValueError("a compact range is a whole number of 32-byte hashes")
        return cls(size, [data[i:i + _HASH_SIZE] for i in range(0, len(data), _HASH_SIZE)])


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) in O(hi - lo) through a compact range (no slicing, no deep recursion)."""
    if hi - lo == 1:
        return leaves[lo]
    rng = CompactRange()
    for i in range(lo, hi):
        rng.append(leaves[i])
    return rng.root()


def root(leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 Merkle tree hash of the leaf hashes ``leaves``."""
    return _mth(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[size]): the audit path of leaf ``index`` in the first ``size``."""
    size = len(leaves) if size is None else size
    if not 0 <= index < size <= len(leaves):
        raise ValueError(f"no leaf {index} in a tree of size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:  # walk down; the sibling hashes come out root-first, the proof is leaf-first
        k = _split(hi - lo)
        if m < k:
            path.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_mth(leaves, lo, lo + k))
            lo, m = lo + k, m - k
    return path[::-1]


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int | None = None) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(old_size, D[new_size]); empty when ``old_size`` is 0 or equal."""
    new_size = len(leaves) if new_size is None else new_size
    if not 0 <= old_size <= new_size <= len(leaves):
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, new_size, old_size, True  # SUBPROOF(m, D[lo:hi], whole)
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_mth(leaves, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_mth(leaves, lo, hi))
    return proof[::-1]


def _check_hashes(proof: Sequence[bytes]) -> None:
    if any(len(h) != _HASH_SIZE for h in proof):
        raise ProofError("a proof hash is not 32 bytes")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`ProofError` unless ``leaf`` is leaf ``index`` of the tree."""
    _check_hashes(proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    if r != expected_root:
        raise ProofError(f"leaf {index} is not in the tree of size {size} with that root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofError` unless tree ``new`` extends tree ``old``."""
    _check_hashes(proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        return
    if old_size == 0:  # every tree extends the empty one (RFC 6962 defines no proof for it)
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a subtree of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the new root (size {new_size})")
