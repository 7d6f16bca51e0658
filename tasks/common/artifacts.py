"""Prefect artifacts: keys and escaping of user-controlled text (file, dataset, run names)."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def artifact_key(text: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")[:100]


def md(text: object) -> str:
    """Text shown literally in a markdown artifact: no HTML, no markdown, one line."""
    escaped = html.escape(str(text), quote=True)
    return _MARKDOWN.sub(r"\\\1", escaped).replace("\r", " ").replace("\n", " ")
