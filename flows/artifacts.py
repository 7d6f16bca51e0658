"""Prefect artifacts: keys and escaping of user-controlled text (file, dataset, run names)."""

from __future__ import annotations

import html
import re

from zspace.tasks.common.progress import artifact_key

__all__ = ["artifact_key", "md"]

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md(text: object) -> str:
    """Text shown literally in a markdown artifact: no HTML, no markdown, one line."""
    escaped = html.escape(str(text), quote=True)
    return _MARKDOWN.sub(r"\\\1", escaped).replace("\r", " ").replace("\n", " ")
