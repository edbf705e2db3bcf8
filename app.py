"""Hugging Face Space entry point: the fnsft app (binds $GRADIO_SERVER_NAME when set, else 127.0.0.1)."""

from fnsft.ui.app import main

if __name__ == "__main__":
    main()
