"""The `zspace` command: one subcommand per stage, each starting that stage's Prefect flow."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Each stage module registers its own subcommand.
STAGES = ["ingest", "train", "encode", "analyze", "project", "generate", "report", "pipeline", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zspace",
        description="Train face AEs/VAEs and measure their latent spaces exactly, as Prefect flows.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for stage in STAGES:
        importlib.import_module(f"zspace.flows.{stage}").register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from zspace.storage import StoreError

    try:
        result = args.func(args)
    except (StoreError, ValidationError, ValueError, FileNotFoundError) as e:
        print(f"zspace {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
