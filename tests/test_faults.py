"""Injected faults: a disk that fills during a save, simultaneous claims of one run folder, a killed template
write. Each must end in one line with a truthful status, lose nothing and delete nothing another process made."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path

import pytest
import torch

from fnsft._files import atomic_folder, atomic_path, write_json_atomically
from fnsft.cli import train_main
from fnsft.errors import RunFolderError
from fnsft.training import read_status
from fnsft.training._run_folder import check_run_folder, claim_run_folder


@pytest.fixture
def train_argv(tmp_path, tiny_folder):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) for i in range(8)))
    return [
        *("--model", str(tiny_folder), "--dataset", str(data), "--output-dir", str(tmp_path / "run")),
        *("--max-steps", "3", "--save-steps", "1", "--batch-size", "2", "--max-length", "32"),
        *("--evaluate", "false", "--device", "cpu"),
    ]


def disk_full_for(name: str, after: int = 0):
    """torch.save that fails with ENOSPC for files called `name`, after `after` successful saves of it."""
    real, calls = torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        if str(f).endswith(name):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real(obj, f, *args, **kwargs)

    return save


def error_lines(stderr: str) -> list[str]:
    """The `error:` lines of a command's stderr (progress bars share lines through carriage returns)."""
    return [line[line.index("error:") :] for line in stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize(
    ("after", "advice"),
    [(0, "--overwrite true (no checkpoint"), (1, "continue from checkpoint-1 with --resume true")],
)
def test_disk_full_while_saving_optimizer_state_ends_in_one_line(
    after, advice, train_argv, tmp_path, monkeypatch, capfd, caplog
):
    monkeypatch.setattr(torch, "save", disk_full_for("optimizer.pt", after))
    assert train_main(train_argv) == 1
    errors = error_lines(capfd.readouterr().err)
    assert len(errors) == 1 and "No space left on device" in errors[0] and "optimizer.pt" in errors[0]
    assert advice in errors[0]
    assert read_status(tmp_path / "run")["state"] == "failed"
    monkeypatch.undo()
    code = train_main([*train_argv, "--resume", "true"])
    stderr = capfd.readouterr().err
    if after == 0:  # nothing complete to resume: the refusal names the unfinished save
        assert code == 2 and "only incomplete ones, skipped: checkpoint-1" in error_lines(stderr)[0]
    else:  # resumes from checkpoint-1, naming the unfinished checkpoint-2 it passes over (and then rewrites)
        assert (
            code == 0 and "skipping incomplete checkpoints" in caplog.text and "checkpoint-2" in caplog.text
        )
        assert read_status(tmp_path / "run")["state"] == "completed"


def claim_in_turn(folders: list[str], start, done, results) -> None:
    """One contender: for each folder, claim it at the same moment as the others, then write into it if won."""
    for folder in folders:
        start.wait()
        try:
            lock = claim_run_folder(check_run_folder(Path(folder), resume=False, overwrite=False))
        except RunFolderError:
            lock = None
        else:
            (Path(folder) / "config.json").write_text(str(os.getpid()))
        done.wait()  # the winner holds its lock until every contender has tried
        if lock is not None:
            lock.release()
        results.put((folder, os.getpid(), lock is not None))


def race(root: Path, trials: int) -> list[str]:
    """`trials` fresh folders, each claimed by 2, 3 or 4 processes at once; the trials that went wrong."""
    context = multiprocessing.get_context("fork")
    problems = []
    for contenders in (2, 3, 4):
        folders = [
            str(root / f"{contenders}-{i}" / "run")
            for i in range(trials // 3 + (contenders == 2) * (trials % 3))
        ]
        start, done, results = context.Barrier(contenders), context.Barrier(contenders), context.Queue()
        workers = [
            context.Process(target=claim_in_turn, args=(folders, start, done, results))
            for _ in range(contenders)
        ]
        for worker in workers:
            worker.start()
        outcomes: dict[str, list[tuple[int, bool]]] = {}
        for _ in range(len(folders) * contenders):
            folder, pid, won = results.get(timeout=60)
            outcomes.setdefault(folder, []).append((pid, won))
        for worker in workers:
            worker.join(timeout=60)
        for folder, tries in outcomes.items():
            winners = [pid for pid, won in tries if won]
            written = Path(folder, "config.json")
            if len(winners) != 1 or not written.is_file() or written.read_text() != str(winners[0]):
                problems.append(f"{folder}: winners {winners}")
    return problems


def test_simultaneous_claims_of_one_folder_admit_exactly_one_and_delete_nothing(tmp_path):
    trials = int(os.environ.get("FNSFT_RACE_TRIALS", "200"))
    assert race(tmp_path, trials) == []


def test_a_killed_template_write_leaves_no_temp_file_behind(tmp_path):
    target = tmp_path / "nets.json"
    dead = multiprocessing.get_context("fork").Process(target=os._exit, args=(0,))
    dead.start()
    dead.join()
    stale = tmp_path / f"nets.json.{dead.pid}-abc123.tmp"  # what a writer killed mid-write leaves
    live = tmp_path / f"nets.json.{os.getpid()}-def456.tmp"  # a write in progress right now
    other = tmp_path / "other.json.1-x.tmp"
    for path in (stale, live, other):
        path.write_text("{")
    write_json_atomically({"a": 1}, target)
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["nets.json", live.name, other.name])


def test_a_failed_write_keeps_the_old_file_or_folder_and_leaves_nothing_else(tmp_path):
    old_file, old_folder = tmp_path / "out.gguf", tmp_path / "cache"
    old_file.write_text("old")
    old_folder.mkdir()
    (old_folder / "data").write_text("old")
    with pytest.raises(OSError, match="disk full"), atomic_path(old_file) as temp:
        temp.write_text("half")
        raise OSError(errno.ENOSPC, "disk full")
    with pytest.raises(OSError, match="disk full"), atomic_folder(old_folder) as staging:
        (staging / "data").write_text("half")
        raise OSError(errno.ENOSPC, "disk full")
    assert (old_file.read_text(), (old_folder / "data").read_text()) == ("old", "old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out.gguf"]


def test_a_finished_folder_replaces_the_old_one_unless_told_to_keep_it(tmp_path):
    target = tmp_path / "cache"
    for text, keep in (("first", False), ("second", True), ("third", False)):
        with atomic_folder(target, keep_existing=keep) as staging:
            (staging / "data").write_text(text)
    assert (target / "data").read_text() == "third"  # "second" found "first" there and kept it
    assert oct(target.stat().st_mode & 0o777) == oct(0o755)  # readable by every user of a shared cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
