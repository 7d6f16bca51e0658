"""What the ingest stage shows of itself: its Prefect artifact and its console lines."""

from __future__ import annotations

from typing import Any

from zspace.tasks.common.artifacts import md


def artifact_markdown(result: dict[str, Any], failed: list[tuple[str, str]]) -> str:
    """The dataset in a table, and the first 50 skipped files with their reasons."""
    lines = [
        f"# Ingest {md(result['dataset'])}",
        "",
        "| | |",
        "|---|---|",
        f"| source | {md(result['source'])} ({result['kind']}) |",
        f"| images | {result['n_images']} of {result['n_sources']} sources, "
        f"{result['size']}x{result['size']} px |",
        f"| failed | {result['n_failed']} |",
        f"| splits | {', '.join(f'{k} {v}' for k, v in (result['splits'] or {}).items())} |",
        f"| array | {md(result['images'])} |",
        f"| fingerprint | `{result['fingerprint']}` |",
    ]
    if failed:
        lines += ["", "## Skipped files", "", "| file | reason |", "|---|---|"]
        lines += [f"| {md(f)} | {md(why)} |" for f, why in failed[:50]]
        if len(failed) > 50:
            lines.append(f"| ... | {len(failed) - 50} more in index.csv |")
    return "\n".join(lines)


def console_lines(result: dict[str, Any], failed: list[tuple[str, str]]) -> list[str]:
    """What the flow prints: the outcome, then the first 20 skipped files."""
    state = "already complete" if result["cached"] else "done"
    lines = [f"ingest {result['dataset']}: {state}: {result['n_images']} images, "
             f"{result['n_failed']} failed -> {result['images']}"]
    return lines + [f"  skipped {f}: {why}" for f, why in failed[:20]]


def closing_lines(s: dict[str, Any]) -> str:
    """What the CLI prints when the stage is done."""
    return f"{s['n_images']} images ({s['n_failed']} failed) -> {s['images']}; fingerprint " \
        f"{s['fingerprint'][:16]}"
