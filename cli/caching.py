"""Where the pipeline's cached stage results live: small JSON documents kept under the store
(``<store>/.prefect-results``), so a cache follows the data, not the home directory. The keys
themselves are :func:`zspace.cli.stage.stage_cache_key`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from prefect.filesystems import RemoteFileSystem

from zspace.storage import Store
from zspace.storage.layout import PREFECT_RESULTS


def result_storage_for(store: Store) -> Any:
    """Prefect result storage inside the store: a local folder, or for a remote store a
    RemoteFileSystem block (saved under a name derived from the URL, as Prefect requires)."""
    if store.is_local:
        path = store.local_path(PREFECT_RESULTS)
        path.mkdir(parents=True, exist_ok=True)
        return path
    url = store.join(PREFECT_RESULTS)
    block = RemoteFileSystem(basepath=url)
    name = "zspace-results-" + hashlib.sha256(url.encode()).hexdigest()[:12]
    block.save(name, overwrite=True)
    return f"remote-file-system/{name}"
