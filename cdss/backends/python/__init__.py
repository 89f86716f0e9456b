"""The Python backend: the compiled rules evaluated in Python."""
