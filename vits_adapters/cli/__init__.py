"""Command line: argument parsing and running (entry), the subcommands, exit codes, batch conversion, the demo."""

from .entry import main

__all__ = ["main"]
