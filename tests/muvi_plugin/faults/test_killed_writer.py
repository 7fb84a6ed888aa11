"""A run killed mid-write (SIGKILL) leaves only a temporary that the next write into the folder removes.

Real child processes write through `muvi_plugin.atomic` and are killed while their temporary is open.
Only muvi's own temporary names, from this machine and of processes that are gone, are ever removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from muvi_plugin.atomic import TEMPORARY, atomic_path, host_tag, remove_stale, temporary_name, write_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid checks are POSIX")

WRITER = textwrap.dedent(
    """
    import sys, time
    from muvi_plugin.atomic import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"half a take")
            f.flush()
            print(tmp, flush=True)
            time.sleep(120)
            f.write(b" never reached")
    """
)


def start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    """A process writing `target` through `atomic_path`, stopped mid-write; returns it and its temporary."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    tmp = Path(child.stdout.readline().strip())
    assert tmp.is_file() and tmp.parent == target.parent
    return child, tmp


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL  # reaped: a zombie would still count as alive


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "take.wav"
    child, tmp = start_writer(target)
    assert f".muvi-{child.pid}-{host_tag()}-" in tmp.name and TEMPORARY.fullmatch(tmp.name)
    kill(child)
    assert tmp.read_bytes() == b"half a take" and not target.exists()  # only the temporary is left

    write_text(tmp_path / "report.json", "{}")  # the next write into the folder, any name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_live_writers_temporary_is_kept(tmp_path):
    child, tmp = start_writer(tmp_path / "take.wav")
    try:
        write_text(tmp_path / "other.json", "{}")
        assert remove_stale(tmp_path) == []
        assert tmp.read_bytes() == b"half a take"
    finally:
        kill(child)
    assert remove_stale(tmp_path) == [tmp]


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_only_muvis_own_names_of_dead_processes_on_this_machine_are_removed(tmp_path):
    pid, here = dead_pid(), host_tag()
    other_host = "0" * 6 if here != "0" * 6 else "1" * 6
    stale = [
        f".take.muvi-{pid}-{here}-0123456789ab.part.wav",
        f".cut.otiod.muvi-{pid}-{here}-0123456789ab.part.old",  # a folder moved aside
        f".notes.muvi-{pid}-{here}-0123456789ab.part",
    ]
    kept = [
        f".take.muvi-{pid}-{other_host}-0123456789ab.part.wav",  # another machine sharing the folder
        f".take.muvi-{os.getpid()}-{here}-0123456789ab.part.wav",  # this live process
        f"take.muvi-{pid}-{here}-0123456789ab.part.wav",  # not hidden: not muvi's name
        f".take.muvi-{pid}-{here}-0123456789ab.part.wav.bak",
        f".take.muvi-{pid}-{here}-0123456789AB.part.wav",
        f".take.{pid}-0123456789ab.part.wav",
        ".take.0123456789ab.part.wav",  # an older muvi's name: no owner to check, kept
        ".notes.part",
        "take.wav",
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / stale[1]).unlink()
    (tmp_path / stale[1]).mkdir()
    (tmp_path / stale[1] / "clip.wav").write_text("x")
    removed = remove_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    assert TEMPORARY.fullmatch(temporary_name(tmp_path / "a.b.wav").name)


def test_a_folder_moved_aside_goes_back_if_its_replacement_never_arrived(tmp_path):
    # Replacing a folder moves the old one aside, then the new one in: a process killed in between left
    # only the old one, under its aside name. It goes back; once the new one is in place, it is removed.
    pid, here = dead_pid(), host_tag()
    aside = tmp_path / f".cut.otiod.muvi-{pid}-{here}-0123456789ab.aside"
    aside.mkdir()
    (aside / "content.otio").write_text("old")
    assert remove_stale(tmp_path) == [aside]
    assert [p.name for p in tmp_path.iterdir()] == ["cut.otiod"]
    assert (tmp_path / "cut.otiod" / "content.otio").read_text() == "old"
    aside.mkdir()
    assert remove_stale(tmp_path) == [aside] and [p.name for p in tmp_path.iterdir()] == ["cut.otiod"]
    # And the writer itself replaces a folder leaving nothing aside.
    with atomic_path(tmp_path / "cut.otiod") as tmp:
        tmp.mkdir()
        (tmp / "content.otio").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["cut.otiod"]
    assert (tmp_path / "cut.otiod" / "content.otio").read_text() == "new"
