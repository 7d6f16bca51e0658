"""A quiet console: our progress lines and Prefect's state lines, not the libraries' internals.

By default TensorFlow's C++ logging, dask/distributed INFO chatter and tracebacks of user errors
are kept off the terminal; ``--verbose`` or ``ZSPACE_VERBOSE=1`` brings them all back. The
settings are environment variables, so the training and dask worker processes inherit them.
"""

from __future__ import annotations

import errno
import logging
import os

from pydantic import ValidationError

from zspace.storage import StoreError

# What a user can fix: reported as one line and exit code 2, never with a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    StoreError, ValidationError, ValueError, FileNotFoundError, NotADirectoryError,
    IsADirectoryError,
)

QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ start-up and graph-optimizer logs
    "GRPC_VERBOSITY": "ERROR",
    "DASK_LOGGING__DISTRIBUTED": "warning",  # scheduler/worker/nanny INFO lines
    "PYTHONWARNINGS": "ignore",
}


# Faults of the machine a user fixes (disk full, read-only or forbidden store): one message,
# exit 2; every complete chunk and checkpoint is kept, and the same command resumes.
DISK_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "the store is on a read-only file system",
               errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.EFBIG: "file too large for this file system or limit"}


def is_disk_fault(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in DISK_ERRNOS


def user_error_message(e: BaseException) -> str:
    if is_disk_fault(e):
        where = getattr(e, "filename", None) or "the store"
        return (f"{where}: {DISK_ERRNOS[e.errno]} ({e.strerror or e}); complete chunks and "  # type: ignore[index]
                "checkpoints are kept: fix it and run the same command again to resume")
    if isinstance(e, ValidationError):
        from zspace.flows.options import describe_validation_error

        return describe_validation_error(e)
    text = str(e)
    if isinstance(e, FileNotFoundError | NotADirectoryError | IsADirectoryError) and e.filename:
        text = f"{e.filename}: {e.strerror or text}"
    return text


def _is_user_error(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:  # Prefect may wrap the original exception
        if isinstance(exc, USER_ERRORS) or is_disk_fault(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _drop_user_error_tracebacks() -> None:
    """Prefect logs a failed run's exception with its traceback; for a user error the one
    message is the whole story. A record factory sees every record, whatever its handler."""
    make = logging.getLogRecordFactory()
    if getattr(make, "zspace_quiet", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if record.exc_info and _is_user_error(record.exc_info[1]):
            record.exc_info = None
            record.exc_text = None
        return record

    factory.zspace_quiet = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def quiet_console(verbose: bool = False) -> None:
    """Set the quiet defaults (unless verbose) before TensorFlow, dask or Prefect start."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # a busy laptop can take longer than Prefect's 20 s to start its temporary server
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if verbose:
        os.environ["ZSPACE_VERBOSE"] = "1"
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    _drop_user_error_tracebacks()
    for name in ("distributed", "tensorflow", "absl", "h5py", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
