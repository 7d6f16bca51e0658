"""The console shows our lines and none of the C++ libraries' logging, on any CPU: the lines are
provoked here (written by child processes, and by TensorFlow told to log everything), never left
to the luck of what this machine's TensorFlow build prints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zspace.cli.console import is_library_line

# As TensorFlow 2.21 prints them on an AVX-512 CPU, and in TensorFlow's older dated form.
LIBRARY_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796190047.187483    4850 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results",
    "I0000 00:00:1796190047.603189    4850 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 AVX_VNNI FMA, in "
    "other operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796190060.655813    4850 meta_optimizer.cc:967] remapper failed: "
    "INVALID_ARGUMENT: Mutation::Apply error: fanout 'gradient_tape/LeakyReluGrad' exist",
    "2026-12-02 05:40:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations",
]
OUR_LINES = [
    "05:40:01.123 | INFO    | Flow run 'tiny-ae' - Finished in state Completed()",
    "zspace train: error: dataset 'nope' not found in /tmp/store",
    "train tiny-ae: epoch 1/1 loss 4821.3",
    "I0000 is not a log line without its source location",
    "E.g. 00:00 is a time",
]


def test_library_lines_are_told_from_ours() -> None:
    assert all(is_library_line(line) for line in LIBRARY_LINES)
    assert not any(is_library_line(line) for line in OUR_LINES)


CHILD = textwrap.dedent("""
    import os, subprocess, sys
    from zspace.cli.console import filter_library_output, quiet_console
    lines = {library!r}
    ours = {ours!r}
    verbose = sys.argv[1] == "verbose"
    quiet_console(verbose)
    if not verbose:
        filter_library_output()
    for line in lines:  # as a C++ library writes: straight to the descriptor
        os.write(2, (line + "\\n").encode())
    print(ours[0], flush=True)
    os.write(2, b"progress 1/2\\r")  # a bar redrawn with \\r, never closed by \\n
    # a process we start (the trainer, a dask worker) inherits the filtered descriptors
    subprocess.run([sys.executable, "-c",
                    "import os, sys; lines = sys.argv[1:]; "
                    "[os.write(2, (l + chr(10)).encode()) for l in lines]; print('child done')",
                    *lines])
    os.write(1, lines[1][:40].encode())  # a library line cut in two writes
    sys.stdout.flush()
    os.write(1, (lines[1][40:] + "\\n").encode())
    print(ours[1], file=sys.stderr)
""")


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_a_process_and_its_children_print_no_library_lines(mode: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(library=LIBRARY_LINES, ours=OUR_LINES))
    run = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "ZSPACE_VERBOSE": ""})
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert OUR_LINES[0] in run.stdout and OUR_LINES[1] in run.stderr
    assert "child done" in run.stdout and "progress 1/2" in run.stderr
    shown = [line for line in out.replace("\r", "\n").splitlines() if is_library_line(line)]
    if mode == "quiet":
        assert shown == [], shown
    else:  # --verbose shows everything, so the lines above were really written
        assert len(shown) == 2 * len(LIBRARY_LINES) + 1, shown


@pytest.mark.slow
def test_tensorflow_told_to_log_everything_stays_off_the_console(tmp_path: Path) -> None:
    """TF_CPP_MIN_LOG_LEVEL=0 makes TensorFlow log its start-up on every CPU; a real stage that
    trains must still show none of it, and --verbose must show it."""
    zspace = str(Path(sys.executable).parent / "zspace")
    store = str(tmp_path / "store")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "0",
           "TF_ENABLE_ONEDNN_OPTS": "1", "ZSPACE_VERBOSE": ""}
    preset = str(Path(__file__).parent / "presets" / "tiny.yaml")

    def zs(*args: str) -> str:
        run = subprocess.run([zspace, *args], capture_output=True, text=True, timeout=300,
                             env=env)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        return run.stdout + run.stderr

    zs("ingest", "--source", "synthetic", "--store", store, "--name", "faces", "--count", "64",
       "--size", "32")
    quiet = zs("train", "--store", store, "--dataset", "faces", "--preset", preset,
               "--run", "quiet", "--epochs", "1")
    loud = zs("--verbose", "train", "--store", store, "--dataset", "faces", "--preset", preset,
              "--run", "loud", "--epochs", "1")
    assert [line for line in quiet.splitlines() if is_library_line(line)] == []
    assert any(is_library_line(line) for line in loud.splitlines()), loud[-2000:]
