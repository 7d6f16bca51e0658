"""Loading what a trained run left in the store: its record and its model."""

from __future__ import annotations

from typing import Any

from zspace.storage import Store


def load_run_model(store: Store, run: str) -> Any:
    from zspace.models.saved import load_model_from_store

    rel = store.run(run).model
    store.require(rel, f"train run {run!r} first")
    return load_model_from_store(store, rel, compile=False)


def complete_array(store: Store, rel: str, missing: str, incomplete: str) -> Any:
    """The zarr array at rel, refused with a StoreError naming it and what to run when it is
    absent (`missing`) or an interrupted stage left it unfinished (`incomplete`)."""
    from zspace.storage import StoreError, is_complete

    if not store.has_array(rel):
        raise StoreError(f"{store.join(rel)} does not exist: {missing}")
    arr = store.open_array(rel)
    if not is_complete(arr):
        raise StoreError(f"{store.join(rel)} is not complete: {incomplete}")
    return arr


def current_latents(store: Store, run: str) -> Any:
    """runs/<run>/latents/z_mean, complete; a clear error naming what to run otherwise."""
    return complete_array(store, store.run(run).latents("z_mean"),
                          f"run `zspace encode --store {store.url} --run {run}` first",
                          "rerun `zspace encode` to resume")


def current_stats_record(store: Store, run: str, latents: Any) -> dict[str, Any]:
    """The statistics' completion record, refused when it was computed from other latents
    (a re-encode since): figures or projections of old statistics would silently mislead."""
    from zspace.storage import StoreError

    stats = store.run(run).stats
    store.require(stats.complete, f"run `zspace analyze --store {store.url} --run {run}` first")
    record = store.read_json(stats.complete)
    if record.get("input_fingerprint") != f"content:{latents.attrs.get('fingerprint')}":
        raise StoreError(f"{store.join(stats.root)} holds statistics of older latents than "
                         f"{store.join(store.run(run).latents('z_mean'))}: rerun `zspace analyze "
                         f"--store {store.url} --run {run}` first")
    return record
