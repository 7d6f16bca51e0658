"""Progress that a user can see both in the terminal (tqdm) and in the Prefect UI (artifact)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from tqdm import tqdm

from zspace.tasks.common.artifacts import artifact_key


def in_prefect_run() -> bool:
    """Artifacts only make sense inside a flow or task run; plain calls (tests, scripts) skip them."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:  # pragma: no cover - prefect is a hard dependency
        return False
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class Progress:
    """A tqdm bar plus a Prefect progress artifact, updated at most every `min_interval` s."""

    def __init__(
        self,
        total: int,
        desc: str,
        key: str | None = None,
        unit: str = "it",
        initial: int = 0,
        min_interval: float = 2.0,
    ):
        self.total = max(int(total), 0)
        self.done = int(initial)
        self.desc = desc
        self.min_interval = min_interval
        self._last = 0.0
        self._bar = tqdm(
            total=self.total,
            initial=self.done,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            dynamic_ncols=True,
            disable=None,  # quiet when stderr is not a terminal
        )
        self._artifact: Any = None
        if in_prefect_run():
            from prefect.artifacts import create_progress_artifact

            try:
                self._artifact = create_progress_artifact(
                    progress=self._percent(), key=artifact_key(key or desc), description=desc
                )
            except Exception:  # the UI is a convenience: never fail the work for it
                self._artifact = None

    def _percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 2)

    def update(self, n: int = 1) -> None:
        self.done += n
        self._bar.update(n)
        now = time.monotonic()
        if self._artifact is not None and now - self._last >= self.min_interval:
            self._last = now
            self._push()

    def _push(self) -> None:
        from prefect.artifacts import update_progress_artifact

        try:
            update_progress_artifact(self._artifact, progress=self._percent())
        except Exception:
            self._artifact = None

    def close(self) -> None:
        self._bar.close()
        if self._artifact is not None:
            self._push()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
