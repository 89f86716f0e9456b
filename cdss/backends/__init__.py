"""Backends: where rule matches are found (durable-rules, or Python)."""
