"""`fnsft-train` whose steps wait on a gate file, so a test decides how far a run gets (and the machine's speed
does not): the app's training command in tests that stop, resume, reload or kill a run mid-way.

The file named by FNSFT_TEST_GATE holds how many steps the run may complete; a missing file allows none. A stop
request (SIGTERM) opens the gate, so Stop still ends the run after one more step.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import fnsft.training._loop as loop
from fnsft.cli import train_main

GATE = Path(os.environ["FNSFT_TEST_GATE"])
original = loop.progress_callback


def allowed_steps() -> int:
    try:
        return int(GATE.read_text())
    except (OSError, ValueError):
        return 0


def gated_callback(run_dir, heartbeat, stop_event, progress):
    callback = original(run_dir, heartbeat, stop_event, progress)

    def on_step_begin(args, state, control, **kwargs):
        while state.global_step >= allowed_steps() and not stop_event.is_set():
            time.sleep(0.05)

    callback.on_step_begin = on_step_begin
    return callback


loop.progress_callback = gated_callback
if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))
