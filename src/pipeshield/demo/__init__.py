"""The embedded demo: a small, realistic pipeline with planted weaknesses, built from data that
ships with scikit-learn (no download).

    >>> result = build_demo("pipeshield-demo")            # doctest: +SKIP
    >>> result.pipeline_file
    PosixPath('pipeshield-demo/pipeshield.toml')

It writes an image classifier (a CNN on ``load_digits``, saved as safetensors), a tabular
classifier (a random forest on ``load_breast_cancer``, saved with skops), their datasets, a signing
key pair, a legacy pickle and ``pipeshield.toml``; ``planted.json`` records every planted weakness
with its ground truth. See the README's demo section for the list.
"""

from pipeshield.demo.build import DemoResult, build_demo

__all__ = ["DemoResult", "build_demo"]
