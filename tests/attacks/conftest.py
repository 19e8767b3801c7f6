"""Fixtures for the attack tests (the in-process CLI runner `cli` is in tests/conftest.py)."""
