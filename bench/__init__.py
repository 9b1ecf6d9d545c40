"""Benchmarks that print figures (``make bench``); no timed assertions in tests."""
