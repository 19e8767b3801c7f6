"""Data defences: profile, validate, poisoning and backdoor detection, leakage, sanitize."""
