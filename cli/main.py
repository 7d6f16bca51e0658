"""The `zspace` command: one subcommand per declared stage, plus run, serve and explore.

Every subcommand's options come from its parameter model (:mod:`zspace.cli.options`). User
errors (bad parameters, missing store paths, a dataset of the wrong size) print one line and
exit 2, with no traceback; unexpected errors keep theirs. `--verbose` (or ZSPACE_VERBOSE=1)
brings back the libraries' own logging.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Command:
    """A subcommand that is not a stage: its parameters and what runs it."""

    name: str
    help: str
    params: Callable[[], type[BaseModel]]
    run: Callable[[dict[str, Any]], int]


def _command(module: str, name: str) -> Command:
    return importlib.import_module(module).COMMAND


COMMANDS = (("zspace.flows.pipeline", "run"), ("zspace.cli.serve", "serve"),
            ("zspace.cli.explore", "explore"))


def build_parser() -> argparse.ArgumentParser:
    from zspace.cli.options import add_model_options
    from zspace.cli.registry import stages

    parser = argparse.ArgumentParser(
        prog="zspace",
        description="Train face AEs/VAEs and measure their latent spaces exactly, as Prefect flows.",
    )
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow, dask and Keras logs (also ZSPACE_VERBOSE=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for st in stages():
        p = sub.add_parser(st.name, help=st.help, description=st.help)
        add_model_options(p, st.params, frozenset(st.nested))
        for model in st.nested.values():
            add_model_options(p, model)
        _backend_option(p, st.params)
        p.set_defaults(handler=_stage_handler(st.name))
    for module, name in COMMANDS:
        cmd = _command(module, name)
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        add_model_options(p, cmd.params())
        _backend_option(p, cmd.params())
        p.set_defaults(handler=_command_handler(module, name))
    return parser


BACKEND_HELP = ("Keras backend for this command and the processes it starts: tensorflow "
                "(default) or jax (also KERAS_BACKEND)")


def _backend_option(p: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    if "backend" not in model.model_fields:
        p.add_argument("--backend", dest="keras_backend", choices=["tensorflow", "jax"],
                       default=None, help=BACKEND_HELP)


def _select_backend(argv: list[str]) -> None:
    """Before anything imports Keras: KERAS_BACKEND for this process and its children."""
    if "--backend" in argv[:-1]:
        from zspace.models.backend import use_backend

        use_backend(argv[argv.index("--backend") + 1])


def _stage_handler(name: str) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        from zspace.cli.options import values
        from zspace.cli.registry import stage

        st = stage(name)
        params = st.build(values(args, [st.params, *st.nested.values()]))
        if st.check:
            st.check(params)  # clear errors before any flow run starts
        result = st.flow(params)
        if st.closing:
            print(st.closing(result))
        return 0

    return handle


def _command_handler(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        from zspace.cli.options import values

        cmd = _command(module, name)
        return cmd.run(values(args, [cmd.params()]))

    return handle


def main(argv: list[str] | None = None) -> int:
    entry, argv = argv is None, sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in argv or os.environ.get("ZSPACE_VERBOSE") == "1"
    from zspace.cli.console import filter_library_output, quiet_console

    quiet_console(verbose)
    if entry and not verbose:  # the process's own descriptors: not when called in-process
        filter_library_output()
    args = build_parser().parse_args(argv)
    _select_backend(argv)
    from zspace.cli.console import USER_ERRORS, is_disk_fault, user_error_message

    try:
        return int(args.handler(args) or 0)
    except (*USER_ERRORS, OSError) as e:
        if isinstance(e, OSError) and not isinstance(e, USER_ERRORS) and not is_disk_fault(e):
            raise
        print(f"zspace {args.command}: error: {user_error_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
