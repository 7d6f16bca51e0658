"""What the project stage shows of itself: the CLI's closing lines."""

from __future__ import annotations

from typing import Any


def closing_lines(res: dict[str, Any]) -> str:
    """What the CLI prints when the stage is done."""
    lines = [f"{c}: {r['n']:,} points, {r['seconds']:.1f} s{' (already done)' if r['cached'] else ''}"
             for c, r in res["projections"].items()]
    return "\n".join([*lines, f"figures listed in {res['manifest']}"])
