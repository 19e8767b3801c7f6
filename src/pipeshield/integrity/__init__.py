"""Integrity: what every artifact of the pipeline is (digest, size, real format), and later
signatures, manifests and provenance over those digests."""
