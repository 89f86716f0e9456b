"""The ``compiled`` backend: the rule set compiled to one generated Python module."""
