"""Packages found, not listed: every package under the source folders installs as
zspace.<folder>.<...>, so a new stage package under tasks/ needs no edit here or in
pyproject.toml (whose [tool.setuptools] package-dir maps each folder to its zspace name).
pyproject.toml cannot say this alone: setuptools' `packages.find` gives no name prefix."""

from setuptools import find_packages, setup

FOLDERS = ("cli", "flows", "tasks", "models", "storage")

setup(packages=["zspace", "zspace.presets",
                *(f"zspace.{p}" for p in find_packages(include=[f"{f}*" for f in FOLDERS]))])
