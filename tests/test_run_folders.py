"""Run folders under faults: reused folders, half-written checkpoints, read-only folders, a second writer, and
status.json after `kill -9`. Everything here is refused before a model loads, or is read back from files."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fnsft.errors import RunFolderError
from fnsft.training import TrainingConfig, train
from fnsft.training import _run_folder as run_folder
from fnsft.training._checkpoints import MARKER_FILE, last_complete_checkpoint, rotate
from fnsft.training._run_folder import RunFolderLock
from fnsft.training._run_status import STALE_AFTER, read_run_status, write_status

CHILD = [sys.executable, "-c"]
NO_MODEL = "/nonexistent/model"  # a refusal that fails to happen fails fast, without loading a model


def checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    path = root / "checkpoints" / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (path / MARKER_FILE).write_text(json.dumps({"step": step}))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def finished_run(folder: Path) -> Path:
    (folder / "final").mkdir(parents=True)
    (folder / "final" / "adapter_model.safetensors").write_bytes(b"trained")
    (folder / "progress.jsonl").write_text('{"step": 4}\n')
    (folder / "config.json").write_text("{}")
    checkpoint(folder, 4)
    write_status(folder, "completed", step=4)
    return folder


def config_only(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def a_file(folder: Path) -> Path:
    folder.write_text("not a folder")
    return folder


def only_incomplete(folder: Path) -> Path:
    checkpoint(folder, 2, complete=False)
    (folder / "checkpoints" / "checkpoint-10-old").mkdir()
    return folder


def live_writer(folder: Path) -> Path:
    folder.mkdir()
    write_status(folder, "running", step=3)  # this very process, heartbeat now
    return folder


FOLDER_CASES = {
    "finished run, fresh start": (
        finished_run,
        {},
        r"holds an earlier run \(config.json, status.json, progress",
    ),
    "finished run, resume typo": (finished_run, {"resume": "y"}, "resume: 'y' is not a boolean"),
    "config.json only": (config_only, {}, r"holds an earlier run \(config.json\); pass --resume true"),
    "resume and overwrite": (finished_run, {"resume": True, "overwrite": True}, "contradict each other"),
    "output is a file": (a_file, {}, "is a file, not a folder"),
    "only incomplete checkpoints": (
        only_incomplete,
        {"resume": True},
        r"holds no complete checkpoint \(only incomplete ones, skipped: checkpoint-2\)",
    ),
    "live writer, overwrite": (
        live_writer,
        {"overwrite": True},
        f"is being written by process {os.getpid()}",
    ),
    "live writer, resume": (live_writer, {"resume": True}, "status 'running'"),
}


@pytest.mark.parametrize("case", sorted(FOLDER_CASES))
def test_a_reused_run_folder_is_refused_and_left_untouched(case, tmp_path):
    make, settings, message = FOLDER_CASES[case]
    folder = make(tmp_path / "run")
    before = snapshot(folder) if folder.is_dir() else folder.read_bytes()
    with pytest.raises((RunFolderError, ValueError), match=message):
        train(TrainingConfig(output_dir=str(folder), model=NO_MODEL, **settings))
    assert (snapshot(folder) if folder.is_dir() else folder.read_bytes()) == before


def test_a_read_only_run_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    folder.chmod(0o555)  # enough for an ordinary user; root ignores modes, so the refusal is also injected
    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if Path(dir) == folder:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(run_folder.tempfile, "mkstemp", read_only)
    try:
        with pytest.raises(
            RunFolderError, match=r"output_dir .*run: cannot write in .*run \(Permission denied\)"
        ):
            train(TrainingConfig(output_dir=str(folder), model=NO_MODEL))
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_second_process_cannot_write_the_same_run_folder(tmp_path, tiny_folder):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [
            *CHILD,
            f"from fnsft.training._run_folder import RunFolderLock; from pathlib import Path; import time\n"
            f"lock = RunFolderLock(Path({str(folder)!r})); lock.acquire(); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError, match="is being written by another run right now"):
            train(TrainingConfig(output_dir=str(folder), model=str(tiny_folder)))
        assert [p.name for p in folder.iterdir()] == [".fnsft.lock"]
    finally:
        holder.kill()
        holder.wait()
    lock = RunFolderLock(folder)
    lock.acquire()  # released by the OS when its holder died
    lock.release()


def test_a_killed_writer_reads_as_interrupted_with_its_last_step(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    child = subprocess.Popen(
        [
            *CHILD,
            f"from fnsft.training._run_status import write_status; import time\n"
            f"write_status({str(folder)!r}, 'running', step=7); print('ok', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert child.stdout.readline().strip() == "ok"
    status = read_run_status(folder)
    assert (status.state, status.pid, status.host) == ("running", child.pid, socket.gethostname())
    child.send_signal(signal.SIGKILL)
    child.wait()
    status = read_run_status(folder)
    assert (status.state, status.step, status.recorded["state"]) == ("interrupted", 7, "running")


def test_a_stale_heartbeat_from_another_host_reads_as_interrupted(tmp_path):
    beat = time.time()
    (tmp_path / "status.json").write_text(
        json.dumps({"state": "stopping", "pid": 1, "host": "elsewhere", "heartbeat": beat})
    )
    (tmp_path / "progress.jsonl").write_text('{"step": 5}\n')
    assert read_run_status(tmp_path, now=beat + 5).state == "stopping"
    late = read_run_status(tmp_path, now=beat + STALE_AFTER + 1)
    assert (late.state, late.step) == ("interrupted", 5)
    assert read_run_status(tmp_path / "missing").state == "unknown"


def test_resume_picks_the_newest_complete_checkpoint_by_its_number(tmp_path, caplog):
    for step, complete in ((2, True), (10, True), (12, False)):
        checkpoint(tmp_path, step, complete)
    (tmp_path / "checkpoints" / "checkpoint-99-old").mkdir()
    (tmp_path / "checkpoints" / ".saving-checkpoint-14").mkdir()  # an older fnsft's unfinished save
    assert last_complete_checkpoint(tmp_path / "checkpoints").name == "checkpoint-10"
    assert f"skipping incomplete checkpoints (no readable {MARKER_FILE}): checkpoint-12" in caplog.text
    rotate(tmp_path / "checkpoints", keep=1)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == [
        ".saving-checkpoint-14",
        "checkpoint-10",
        "checkpoint-12",
        "checkpoint-99-old",
    ]  # strays kept


def test_a_status_file_that_cannot_be_written_ends_in_one_storage_error(
    tmp_path, monkeypatch, caplog, tiny_folder
):
    from fnsft.errors import StorageError
    from fnsft.training import _run_status as run_status

    def refuse(data, path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(run_status, "write_json_atomically", refuse)
    with pytest.raises(
        StorageError, match=r"cannot write \(.*status.json\): Permission denied; free space"
    ) as error:
        train(TrainingConfig(output_dir=str(tmp_path / "run"), model=str(tiny_folder)))
    assert error.value.__suppress_context__ and error.value.__cause__ is None
    assert "could not record 'failed' in" in caplog.text  # logged once, not raised over the real error


def test_atomic_json_is_readable_by_all_and_keeps_a_replaced_files_mode(tmp_path):
    from fnsft._files import write_json_atomically

    new = write_json_atomically({"a": 1}, tmp_path / "new.json")
    assert new.stat().st_mode & 0o777 == 0o644
    private = tmp_path / "private.json"
    private.write_text("{}")
    private.chmod(0o600)
    write_json_atomically({"b": 2}, private)
    assert private.stat().st_mode & 0o777 == 0o600 and json.loads(private.read_text()) == {"b": 2}
