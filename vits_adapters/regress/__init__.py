"""Regression audio: manifests, golden WAVs and sidecars, comparison, HTML reports."""

from .runner import run

__all__ = ["run"]
