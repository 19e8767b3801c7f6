"""The guarded inference gateway (``pipeshield serve``) and the controls it enforces.

- :mod:`~pipeshield.gateway.app`: the FastAPI service (auth, scope, threat intel, size and input
  policy, limits, output policy, extraction monitoring, the audit record written before answering);
- :mod:`~pipeshield.gateway.keys`: API keys, stored hashed and scoped to models and limits;
- :mod:`~pipeshield.gateway.limits`: token buckets and budgets, in-process or shared through Redis;
- :mod:`~pipeshield.gateway.input_policy` and :mod:`~pipeshield.gateway.output_policy`: what a
  request may contain and what an answer reveals (the attack checks measure the same policies);
- :mod:`~pipeshield.gateway.detectors`: adversarial / out-of-distribution input detectors (feature
  squeezing, Mahalanobis, isolation forest), calibrated on held-out training rows;
- :mod:`~pipeshield.gateway.extraction_monitor`: PRADA and query coverage per key;
- :mod:`~pipeshield.gateway.threat_intel`: blocklists from plain lists and STIX 2.1 bundles;
- :mod:`~pipeshield.gateway.audit_log`: the tamper-evident log (RFC 6962 Merkle tree, checkpoints).

Importing this package imports none of them: the attack checks use the output policy without
loading FastAPI.
"""
