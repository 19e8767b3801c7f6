"""Hardened training: recipes that wrap your own model and data, each with its guarantee measured.

- :mod:`pipeshield.training.dp` — differential privacy with Opacus (DP-SGD: Poisson sampling,
  per-sample clipping, calibrated noise), privacy accounting cross-checked with Google's
  ``dp-accounting``; DP logistic regression for tabular data.
- :mod:`pipeshield.training.adversarial` — PGD adversarial training (Madry et al.) and TRADES on
  the evasion engine's attacks, evaluated by the full evasion assessment.
- :mod:`pipeshield.training.robust` — poisoning-resistant training: sanitize-then-train with the
  data defences, and per-sample loss trimming.
- :mod:`pipeshield.training.federated` — Flower simulation with robust aggregation (Krum,
  Multi-Krum, median, trimmed mean, Bulyan), client-level DP and simulated malicious clients.
- :mod:`pipeshield.training.provenance` — every recipe's signed provenance attestation.
"""
