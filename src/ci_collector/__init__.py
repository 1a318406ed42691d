"""ci-collector: CI history from GitHub Actions, Jenkins and CircleCI into Trunk CI Analytics."""

__version__ = "0.1.0"
"""The one version source: pyproject.toml reads it (hatch dynamic version)."""
