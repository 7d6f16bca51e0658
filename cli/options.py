"""Command-line options generated from pydantic parameter models, and user-facing errors.

A stage's parameters are declared once, as a model; its subcommand's options, types, choices
and defaults are read from the model here, so argparse never repeats them.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _scalar(annotation: Any) -> dict[str, Any]:
    """argparse keywords for one value: its type, and choices for a Literal."""
    if typing.get_origin(annotation) is Literal:
        choices = list(typing.get_args(annotation))
        return {"type": type(choices[0]), "choices": choices}
    return {"type": annotation} if annotation in (int, float, str) else {"type": str}


def _kwargs(annotation: Any) -> dict[str, Any]:
    ann = _strip_optional(annotation)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is dict or ann is dict:
        return {"action": "append", "metavar": "KEY=VALUE", "type": str}
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return {"nargs": "+", **_scalar(args[0] if args else str)}
    if origin is tuple:
        return {"nargs": len(args), **_scalar(args[0])}
    return _scalar(ann)


STORAGE_OPTION_HELP = (
    "an fsspec option for an object store (s3://, gs://, abfs://), repeatable; dotted keys "
    "nest: client_kwargs.endpoint_url=http://host:9000, anon=false, key=..., secret=...; "
    "reaches every process the command starts (via FSSPEC_<PROTOCOL>)")


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel],
                      skip: frozenset[str] = frozenset()) -> None:
    """One option per field; unset options stay unset so the model's own defaults apply.
    A model with a `store` field also gets --storage-option."""
    if "store" in model.model_fields and "store" not in skip:
        parser.add_argument("--storage-option", dest="storage_option", action="append",
                            metavar="KEY=VALUE", default=None, help=STORAGE_OPTION_HELP)
    for name, f in model.model_fields.items():
        if name in skip:
            continue
        kw = _kwargs(f.annotation)
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        shown = "" if f.is_required() or default is None else f" (default: {default})"
        required = f.is_required() and kw.get("action") != "append"
        parser.add_argument(option(name), dest=name, default=None, required=required,
                            help=(f.description or "") + shown, **kw)


def key_values(items: list[str], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{option(name)} {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def values(args: argparse.Namespace, models: list[type[BaseModel]]) -> dict[str, Any]:
    """The options a user gave (None = not given), dict options parsed from KEY=VALUE.
    Storage options are put in force here, for every store the command opens."""
    if getattr(args, "storage_option", None):
        from zspace.storage.remote import use_storage_options

        store = getattr(args, "store", None) or getattr(args, "latents", None) or ""
        use_storage_options(store, key_values(args.storage_option, "storage_option"))
    out: dict[str, Any] = {}
    for model in models:
        for name, f in model.model_fields.items():
            v = getattr(args, name, None)
            if v is None:
                continue
            ann = _strip_optional(f.annotation)
            if ann is dict or typing.get_origin(ann) is dict:
                v = key_values(v, name)
            out[name] = list(v) if isinstance(v, list) and typing.get_origin(ann) is tuple else v
    return out


def describe_validation_error(e: ValidationError) -> str:
    """One line per problem, naming the option as the user typed it, without pydantic's URL."""
    parts = []
    for err in e.errors():
        loc = [str(x) for x in err.get("loc", ()) if not isinstance(x, int)]
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        where = option(loc[0]) + ("." + ".".join(loc[1:]) if len(loc) > 1 else "") if loc else ""
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)
