"""What the encode stage shows of itself: its Prefect artifact and the CLI's closing lines."""

from __future__ import annotations

from typing import Any

from zspace.tasks.common.artifacts import md


def artifact_markdown(run: str, result: dict[str, Any]) -> str:
    """The latents written, with their fingerprints, and the encoder's throughput."""
    lines = [f"# Encoded run {md(run)}", "",
             f"{result['n']:,} images of dataset {md(result['dataset'])} -> {result['kind']} "
             f"latents, z_dim {result['z_dim']}"
             + (" (already complete)" if result["cached"] else ""), "",
             "| array | fingerprint |", "| --- | --- |"]
    lines += [f"| {md(v['url'])} | `{v['fingerprint'][:16]}` |" for v in result["latents"].values()]
    if result.get("images_per_s"):
        lines += ["", f"{result['images_per_s']:,} images/s"]
    return "\n".join(lines)


def closing_lines(result: dict[str, Any]) -> str:
    """The CLI's closing lines."""
    state = "already complete" if result["cached"] else f"{result['seconds']:.1f} s"
    lines = [f"encoded {result['n']:,} images of {result['dataset']} ({state})"]
    lines += [f"  {name}: {v['url']}  fingerprint {v['fingerprint'][:16]}"
              for name, v in result["latents"].items()]
    return "\n".join(lines)
