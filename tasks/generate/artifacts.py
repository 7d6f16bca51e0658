"""What the generate stage shows of itself: its Prefect tables and the CLI's closing lines."""

from __future__ import annotations

from typing import Any

SCORE_COLUMNS = ("r_limit", "pixel_nn", "pixel_nn_sharpened", "latent_nn", "sharpness",
                 "sharpness_sharpened")


def scores_table(scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per sampler: its distances and sharpness, floats rounded for the table."""
    return [{"sampler": k, **{m: round(v, 5) if isinstance(v, float) else v
                              for m, v in s.items() if m in SCORE_COLUMNS}}
            for k, s in scores.items()]


def reconstruction_table(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per compared run: its reconstruction metrics on the test split."""
    return [{"run": r, **m} for r, m in comparison["runs"].items()]


def closing_lines(result: dict[str, Any]) -> str:
    """The CLI's closing lines."""
    lines = [f"{len(result['samplers'])} samplers decoded"
             f"{' (already done)' if result['cached'] else ''}; "
             f"scores in {result['scores_rel']}, figures listed in {result['manifest']}"]
    for r, m in result.get("reconstruction", {}).get("runs", {}).items():
        lines.append(f"{r} ({m['kind']}): MSE {m['mse']:.5f}, PSNR {m['psnr']:.2f} dB on "
                     f"{m['n']:,} test images")
    return "\n".join(lines)
