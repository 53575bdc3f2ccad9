"""Run the ``vits-adapters`` command line as ``python -m vits_adapters``."""

from __future__ import annotations

from .cli.entry import main

if __name__ == "__main__":
    raise SystemExit(main())
