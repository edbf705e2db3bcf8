"""How every fnsft command ends: one line on stderr and an exit code that says whose problem it was.

Exit 2: the input was wrong (a flag, a file, a setting). Exit 1: the machine refused (a full disk, a read-only
folder, a port in use, memory). Exit 3: fnsft itself failed (a bug); its traceback is shown with `--debug`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .errors import FnsftError, ResourceError, SettingError

BAD_INPUT, ENVIRONMENT, BUG = 2, 1, 3
DEBUG_FLAG = "--debug"


def one_line(error: BaseException) -> str:
    """The message on one line (YAML and JSON parsers report over several)."""
    return " ".join(str(error).split())


def run_command(main: Callable[[list[str]], None], argv: list[str] | None) -> int:
    """Run a command body and turn what it raises into one stderr line and an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    try:
        main([arg for arg in args if arg != DEBUG_FLAG])
    except ResourceError as error:
        return _fail(error, ENVIRONMENT)
    except FnsftError as error:
        return _fail(error, BAD_INPUT)
    except (OSError, MemoryError) as error:  # the environment refused (disk, permissions, memory)
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        text = getattr(error, "strerror", None) or one_line(error) or type(error).__name__
        print(f"error: {text}{where}", file=sys.stderr)
        return ENVIRONMENT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # anything else is fnsft's fault, never the user's input
        if debug:
            traceback.print_exc()
        print(
            f"error: internal error ({type(error).__name__}: {one_line(error)}); this is a bug in fnsft, "
            f"please report it{'' if debug else f' with the traceback that {DEBUG_FLAG} prints'}",
            file=sys.stderr,
        )
        return BUG
    return 0


def _fail(error: BaseException, code: int) -> int:
    print(f"error: {one_line(error)}", file=sys.stderr)
    return code


def check_listen_address(host: str, port: int) -> None:
    """Refuse, before the app starts, an address this machine cannot serve on (bad host, port in use)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise SettingError(
            f"--host {host!r} is not an address or host name this machine can resolve"
        ) from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ResourceError(f"port {port} on {host} is in use; choose another with --port") from None
            raise SettingError(
                f"--host {host!r}: cannot serve there ({error.strerror or error}); use an address of this "
                "machine, e.g. 127.0.0.1 or 0.0.0.0"
            ) from None


def check_runs_dir(path: str) -> None:
    """Refuse a --runs-dir that is a file or lies where nothing can be written."""
    from .training._run_folder import check_writable

    check_writable(Path(path), "--runs-dir")
