"""The analyze stage's plan: which latents it reads and where its statistics go, checked before
any flow run starts (a run not yet encoded is refused with the command that encodes it)."""

from __future__ import annotations

from zspace.storage import Store, StoreError


def resolve_io(store: str | None, run: str | None, latents: str | None, out: str | None,
               latents_name: str = "z_mean") -> tuple[str, str, str, str]:
    """(latents URL, output store URL, output folder under it, label) from either form."""
    if store and run and not (latents or out):
        st = Store(store)
        latents_rel = st.run(run).latents(latents_name)
        if not st.has_array(latents_rel):
            raise StoreError(f"{st.join(latents_rel)} does not exist: run `zspace encode --store "
                             f"{store} --run {run}` first")
        return st.join(latents_rel), st.url, st.run(run).stats.root, run
    if latents and out and not (store or run):
        return latents, Store(out).url, "", latents.rstrip("/").rsplit("/", 1)[-1]
    raise ValueError("give either --store and --run, or --latents and --out")
