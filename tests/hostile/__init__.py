"""Hostile requests: a corpus of malformed, oversized, slow and malicious requests (corpus.py),
sent to the in-process app and to a real server on loopback."""
