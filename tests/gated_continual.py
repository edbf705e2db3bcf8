"""`fnsft-continual` whose stages wait on a gate file, so a test decides how far a suite gets (and the machine's
speed does not): the app's suite command in the test that stops and resumes a suite mid-way.

The file named by FNSFT_TEST_GATE holds how many stages (single-task runs included) this process may train; a
missing file allows none. Stop (SIGTERM) ends the process at once, waiting or not.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import fnsft.continual.suite as suite
from fnsft.cli import continual_main

GATE = Path(os.environ["FNSFT_TEST_GATE"])
original = suite.train_stage
trained = 0


def allowed_stages() -> int:
    try:
        return int(GATE.read_text())
    except (OSError, ValueError):
        return 0


def gated_train_stage(*args, **kwargs):
    global trained
    while trained >= allowed_stages():
        time.sleep(0.05)
    trained += 1
    return original(*args, **kwargs)


suite.train_stage = gated_train_stage
if __name__ == "__main__":
    sys.exit(continual_main(sys.argv[1:]))
