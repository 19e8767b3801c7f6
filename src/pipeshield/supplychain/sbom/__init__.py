"""ML-BOM: a CycloneDX 1.6 JSON SBOM of the pipeline's environment, models and datasets.

    >>> from pipeshield.supplychain.sbom import write_sbom
    >>> text = write_sbom("pipeshield.toml", "sbom.cdx.json")      # doctest: +SKIP

Models are ``machine-learning-model`` components with SHA-256 digests and a model card whose
``datasets`` point at the ``data`` components they were trained and tested on; the Python
environment is one ``library`` component per installed distribution (purl ``pkg:pypi/...``).
"""

from pipeshield.supplychain.sbom.bom import SPEC_VERSION, build_sbom, write_sbom

__all__ = ["SPEC_VERSION", "build_sbom", "write_sbom"]
