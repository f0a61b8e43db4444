"""Tests of service/core/schemes, one module per scheme module; support.py holds what they share."""
