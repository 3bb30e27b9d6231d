"""Focus: a terminal focus timer with a Textual app and a scriptable CLI."""

__version__ = "0.1.0"
