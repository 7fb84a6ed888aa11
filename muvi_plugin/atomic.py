"""The one atomic writer: a file or folder appears whole under its name, or not at all.

    with atomic_path("take.wav") as tmp:        # a fresh name next to take.wav, nothing created yet
        write_something(tmp)                     # a file, or a folder (`.otiod`, a bundle)
    # take.wav is now the complete file; an error, a cancel or Ctrl-C left no temporary behind

    write_text("report.json", text)
    write_bytes("index.bin", data)

Every writer in muvi goes through `atomic_path` (audio, timelines, batch and take indexes, the Resolve
script, checkpoints, bundles, reports, training data). The temporary sibling is named
`.<stem>.muvi-<pid>-<host>-<12 hex>.part<suffix>` in the destination's folder (`pid`: the writing process,
`host`: 6 hex of a hash of this machine's name), so the final rename (`os.replace`) never crosses file
systems and the writer's format can still be chosen by the suffix. Files are flushed to disk (`fsync`)
before the rename, so a crash right after it does not leave an empty file under the name. The writer
creates the temporary itself (not `mkstemp`), so it gets the user's usual permissions.

A process killed mid-write (SIGKILL, power loss) cannot remove its temporary; the next process to write
into the same folder does, on its first write there (`remove_stale`; once per folder, so a writer of
thousands of files does not list its folder thousands of times): a name that matches the pattern above
exactly, written on this machine by a process that no longer runs. A folder being replaced is moved aside
(`.<name>.muvi-<pid>-<host>-<12 hex>.aside`) while the new one moves in; if the process died in between,
the old one goes back under its name. Nothing else is ever removed: not another name, not a live
process's temporary, not one from another machine sharing the folder (its pids are not ours to judge).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "remove_stale", "temporary_name", "write_bytes", "write_text"]

_OWNER = r"\.muvi-(?P<pid>[1-9][0-9]{0,9})-(?P<host>[0-9a-f]{6})-[0-9a-f]{12}"
# `.<stem>.muvi-<pid>-<host>-<token>.part<suffix>`, exactly what `temporary_name` makes.
TEMPORARY = re.compile(r"\..+" + _OWNER + r"\.part(\.[^.]+)?")
# `.<name>.muvi-<pid>-<host>-<token>.aside`: a folder being replaced, moved aside for a moment.
ASIDE = re.compile(r"\.(?P<name>.+)" + _OWNER + r"\.aside")


_CLEANED: set[str] = set()  # folders this process has cleaned (a killed writer's leftovers are older)


def host_tag() -> str:
    """6 hex digits naming this machine in temporary names (a hash: host names may hold any character)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:6]


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh temporary sibling of `path`: `.<stem>.muvi-<pid>-<host>-<12 hex>.part<suffix>`."""
    path = Path(path)
    owner = f"muvi-{os.getpid()}-{host_tag()}-{secrets.token_hex(6)}"
    return path.parent / f".{path.stem}.{owner}.part{path.suffix}"


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporaries that killed muvi processes left in `folder`; returns what was removed or
    put back.

    Only names matching `TEMPORARY` exactly, made on this machine, whose process is gone. A folder that
    was moved aside to be replaced (`ASIDE`) is removed only when its name holds the new one; otherwise it
    is put back under its name, since it is then the only complete version. Errors (a
    folder that cannot be listed, a file that cannot be removed) are ignored: cleaning up must never stop
    a write.
    """
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows: never guess there
        return []
    removed = []
    here = host_tag()
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        match = TEMPORARY.fullmatch(name) or ASIDE.fullmatch(name)
        if match is None or match["host"] != here or _alive(int(match["pid"])):
            continue
        path = Path(folder, name)
        if match.re is ASIDE and not os.path.lexists(Path(folder, match["name"])):
            # Killed between moving the old folder aside and the new one in: the old one is the only
            # complete one, so it goes back under its name (never removed).
            try:
                os.replace(path, Path(folder, match["name"]))
            except OSError:
                continue
            removed.append(path)
            continue
        _remove(path)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 checks without sending anything)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # another user's process (EPERM), or a pid we cannot judge: keep its file
    return True


@contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """A temporary path next to `path`, moved over it when the block completes, removed otherwise.

    The block writes a file or creates a folder at the yielded path. On success a file is flushed to disk
    and renamed over `path` (`os.replace`: atomic, and an existing file is replaced only by a whole one);
    a folder replaces an existing folder by moving the old one aside first, so one of the two is always
    complete. On any exception, `KeyboardInterrupt` and cancels included, the temporary is removed and the
    exception propagates; `path` is untouched.

    Args:
        path: The destination; its folder must exist.
        fsync: Flush the file to disk before the rename (off only for throw-away scratch files).

    Raises:
        FileNotFoundError: The destination's folder does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(2, f"the folder {path.parent} does not exist", os.fspath(path))
    if os.path.realpath(path.parent) not in _CLEANED:  # once per folder and process: cheap on big folders
        _CLEANED.add(os.path.realpath(path.parent))
        remove_stale(path.parent)
    tmp = temporary_name(path)
    try:
        yield tmp
        if tmp.is_dir():
            _replace_folder(tmp, path)
        else:
            if fsync:
                _fsync_file(tmp)
            os.replace(tmp, path)
        if fsync:
            _fsync_folder(path.parent)
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (UTF-8 unless told); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def _replace_folder(tmp: Path, path: Path) -> None:
    if not path.exists():
        os.replace(tmp, path)
        return
    old = path.parent / f".{path.name}.muvi-{os.getpid()}-{host_tag()}-{secrets.token_hex(6)}.aside"
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)  # put the previous one back: the destination is never left empty
        raise
    _remove(old)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as file:  # writable: Windows' fsync (_commit) needs a handle opened for writing
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself (POSIX); Windows cannot open a folder for fsync and needs nothing here."""
    if os.name != "posix":
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems (network shares) refuse fsync on a folder; the rename has happened
    finally:
        os.close(handle)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
