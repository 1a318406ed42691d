"""Fixtures of the hardening tests: the in-process CLI and a GitHub stand-in."""

from tests.hardening.in_process import cli, github_standin

__all__ = ["cli", "github_standin"]
