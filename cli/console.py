"""A quiet console: our progress lines and Prefect's state lines, not the libraries' internals.

By default TensorFlow's C++ logging, dask/distributed INFO chatter and tracebacks of user errors
are kept off the terminal; ``--verbose`` or ``ZSPACE_VERBOSE=1`` brings them all back. The
settings are environment variables, so the training and dask worker processes inherit them.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import logging
import os
import re
import select
import sys
import termios
import threading

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
    """A fault of the machine or the store: an errno above, or an object store (s3fs, gcsfs)
    refusing an operation (a PermissionError without an errno: a bucket policy, a read-only
    key)."""
    refused = isinstance(e, PermissionError) and e.errno is None
    return isinstance(e, OSError) and (e.errno in DISK_ERRNOS or refused)


def user_error_message(e: BaseException) -> str:
    if is_disk_fault(e):
        where = getattr(e, "filename", None) or "the store"
        what = DISK_ERRNOS.get(e.errno, "the object store refused access")  # type: ignore[arg-type]
        return (f"{where}: {what} ({e.strerror or e}); complete chunks and "
                "checkpoints are kept: fix it and run the same command again to resume")
    if isinstance(e, ValidationError):
        from zspace.cli.options import describe_validation_error

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


# What C++ libraries write straight to the file descriptors, whatever TF_CPP_MIN_LOG_LEVEL says:
# glog/absl lines ("I0000 00:00:1796190047.187483 4850 port.cc:153] ..."), TensorFlow's older
# dated form ("2026-12-02 05:40:00.123456: I tensorflow/core/...cc:153] ..."), absl's start-up
# warning, and the second line of the CPU feature notice.
LIBRARY_LINE = re.compile(
    r"^\s*(?:"
    r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+\s+[\w./-]+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [\w./-]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r")"
)


def is_library_line(line: str) -> bool:
    return bool(LIBRARY_LINE.match(line))


class _LineFilter:
    """Copies what is written to one file descriptor to where it pointed before, less the
    library lines. Lines end at \\n or \\r (progress bars redraw with \\r), and a line still
    open after a short pause is passed on, so a bar is never held back."""

    PAUSE_S = 0.05

    def __init__(self, fd: int):
        self.fd = fd
        self.target = os.dup(fd)
        if os.isatty(fd):  # keep colours and bars: the writer still sees a terminal
            read, write = os.openpty()
            _copy_window_size(fd, write)
        else:
            read, write = os.pipe()
        self.read = read
        os.dup2(write, fd)
        os.close(write)
        self.thread = threading.Thread(target=self._pump, daemon=True, name=f"quiet-fd{fd}")
        self.thread.start()

    def _pump(self) -> None:
        pending, dropping = b"", False
        while True:
            ready, _, _ = select.select([self.read], [], [], self.PAUSE_S if pending else None)
            if not ready:  # an open line and a pause: pass it on unless it is a library line
                dropping = dropping or is_library_line(pending.decode("utf-8", "replace"))
                if not dropping:
                    os.write(self.target, pending)
                pending = b""
                continue
            try:
                chunk = os.read(self.read, 65536)
            except OSError:  # a pty's reader gets EIO once every writer has gone
                chunk = b""
            if not chunk:
                break
            pending, dropping = self._lines(pending + chunk, dropping)
        if pending and not (dropping or is_library_line(pending.decode("utf-8", "replace"))):
            os.write(self.target, pending)

    def _lines(self, data: bytes, dropping: bool) -> tuple[bytes, bool]:
        """Write the complete lines of data that are ours; return the open rest."""
        keep, rest = [], b""
        for part in re.split(rb"(?<=[\r\n])", data):
            if not part.endswith((b"\n", b"\r")):
                rest = part
                break
            if not dropping and not is_library_line(part.decode("utf-8", "replace")):
                keep.append(part)
            dropping = False
        if keep:
            os.write(self.target, b"".join(keep))
        return rest, dropping

    def close(self) -> None:
        os.dup2(self.target, self.fd)  # our last writer end goes; children may hold others
        self.thread.join(timeout=1.0)


def _copy_window_size(source: int, pty: int) -> None:
    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(pty, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def filter_library_output() -> None:
    """Keep library lines off stdout and stderr of this process and every process it starts
    (the training process, dask workers inherit the descriptors)."""
    sys.stdout.flush()
    sys.stderr.flush()
    filters = [_LineFilter(1), _LineFilter(2)]

    def restore() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for f in filters:
            f.close()

    atexit.register(restore)
