"""The input/output guard every entry point calls before any work (docs/reliability.md).

    guard.check_input("clip.mp4")                          # a regular file, or one clear MuviError
    guard.check_outputs({"--out": out, "--report": report}, inputs=[("video", video), ("style", style)])
    guard.check_outputs({"--out": "cut.otiod"}, folders=["--out"])  # replaced only if muvi made it

Rules (the project's "never touch the user's files"):
- Inputs are regular files (or a folder where one is expected, a bundle). A FIFO, a device, a socket or
  a folder given as a file is refused before anything opens it: opening a FIFO blocks until a writer comes.
- An output is never an input: paths are compared after `os.path.realpath` (symlinks, `..`) and with
  `os.path.samefile` (hard links, case-insensitive file systems). Two outputs are never the same file.
- An output goes into an existing folder (a missing folder is refused, never created) and is not an
  existing folder or another non-regular file.
- A folder output (`.otiod`) replaces an existing folder only if muvi made it (it holds `MARKER`, which
  muvi writes into every folder it creates, `mark`); the writing itself is `muvi_plugin.atomic`'s
  (`atomic_path`: a new folder replaces the old one whole, the old one moved aside first).

Numpy-free and torch-free: the runtime, the panel and the editor integrations all import it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from muvi_plugin.errors import MuviError

MARKER = ".muvi-created"
"""The file muvi writes into every folder it creates, so that it may later replace that folder."""

PathLike = str | os.PathLike


def input_problem(path: PathLike, *, folder_ok: bool = False) -> str | None:
    """Why `path` cannot be read as an input, without opening it; None when it can.

    Args:
        path: The input.
        folder_ok: A folder is acceptable (a bundle folder).

    Returns:
        The problem without the path ("no such file", "a FIFO (named pipe), not a regular file", ...).
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "no such file"
    except PermissionError:
        return "permission denied"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    except ValueError as error:  # an embedded NUL byte
        return f"not a valid path ({error})"
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return None
    return f"{_kind(mode)}, not a regular file; muvi reads only regular files"


def check_input(path: PathLike, *, folder_ok: bool = False) -> Path:
    """`path` as a Path when it is a regular file (or a folder, with `folder_ok`).

    Raises:
        MuviError: "<path>: no such file", "<path>: a FIFO (named pipe), not a regular file; ...".
    """
    problem = input_problem(path, folder_ok=folder_ok)
    if problem is not None:
        raise MuviError(f"{os.fspath(path)}: {problem}")
    return Path(path)


def same_file(a: PathLike | None, b: PathLike | None) -> bool:
    """Whether `a` and `b` name one file: the same real path, or (both existing) the same inode."""
    if a is None or b is None:
        return False
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def bundle_inputs(bundle: PathLike | None) -> list[tuple[str, Path]]:
    """The files of a bundle as `check_outputs` inputs: the `.zip`, or every file of the folder.

    Args:
        bundle: A bundle folder or `.zip`; None for the embedded one.
    """
    path = Path(bundle) if bundle is not None else Path(__file__).resolve().parent / "default_bundle"
    if path.is_dir():
        return [("bundle file", file) for file in sorted(path.iterdir()) if file.is_file()]
    return [("bundle", path)]


def check_outputs(
    outputs: Mapping[str, PathLike | None],
    inputs: Iterable[tuple[str, PathLike | None]] = (),
    *,
    folders: Iterable[str] = (),
) -> None:
    """Refuse, before any work, every output that must not or cannot be written.

    Args:
        outputs: What each output is called in messages ("--out", "--report") -> its path (None: unused).
        inputs: (what it is, its path) of every input: video, style, timeline, its media, bundle files.
        folders: The names in `outputs` that are folder outputs (`.otiod`): an existing one must be muvi's.

    Raises:
        MuviError: One line naming the output and the problem: it is an input, another output, in a
            missing or unwritable folder, an existing folder muvi did not make, or not a regular file.
    """
    given: list[tuple[str, PathLike]] = [(what, path) for what, path in inputs if path is not None]
    folders = set(folders)
    seen: list[tuple[str, PathLike]] = []
    for label, out in outputs.items():
        if out is None:
            continue
        for what, path in given:
            if same_file(out, path):
                raise MuviError(
                    f"{os.fspath(out)}: {label} is the input {what} {os.fspath(path)}; muvi never "
                    "modifies its inputs, choose another name"
                )
        for other, path in seen:
            if same_file(out, path):
                raise MuviError(f"{os.fspath(out)}: {label} and {other} name the same file; choose two names")
        seen.append((label, out))
        check_output_path(out, folder=label in folders)


def check_output_path(out: PathLike, *, folder: bool = False) -> Path:
    """One output on its own: an existing, writable parent folder; not a folder (unless muvi's), not a FIFO.

    Raises:
        MuviError: The problem, naming `out`.
    """
    out = Path(out)
    parent = Path(os.path.abspath(out)).parent
    if not parent.is_dir():
        raise MuviError(f"{out}: the folder {out.parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MuviError(f"{out}: the folder {out.parent} is not writable")
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        return out
    except OSError as error:
        raise MuviError(f"{out}: cannot be written ({error.strerror or error})") from error
    if stat.S_ISDIR(mode):
        if not folder:
            raise MuviError(f"{out}: is an existing folder; muvi writes a file, choose another name")
        if not made_by_muvi(out):
            raise MuviError(
                f"{out}: is an existing folder muvi did not create; muvi never replaces it, choose a new name"
            )
    elif not stat.S_ISREG(mode):
        raise MuviError(f"{out}: exists as {_kind(mode)}; muvi writes only regular files, choose another")
    elif folder:
        raise MuviError(f"{out}: is an existing file; muvi never replaces it with a folder, choose another")
    return out


def check_folder(path: PathLike, *, what: str = "output folder") -> Path:
    """A folder muvi writes into (`muvi batch --out-dir`): existing, or creatable in an existing parent.

    Raises:
        MuviError: It exists but is not a folder, or its parent folder is missing.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MuviError(f"{path}: the {what} is an existing file, not a folder; choose another name")
    if not path.exists() and not Path(os.path.abspath(path)).parent.is_dir():
        raise MuviError(f"{path}: the folder {path.parent} does not exist")
    return path


def made_by_muvi(folder: PathLike) -> bool:
    """Whether `folder` holds muvi's `MARKER` (a regular file, not a link): muvi created it."""
    marker = Path(folder) / MARKER
    return marker.is_file() and not marker.is_symlink()


def make_folder(path: PathLike) -> Path:
    """Create `path` (its parent must exist) with muvi's marker; an existing folder is left as it is.

    Raises:
        MuviError: The parent folder is missing, or `path` exists and is not a folder.
    """
    path = Path(path)
    if path.is_dir():
        return path
    check_folder(path)
    try:
        path.mkdir()
        mark(path)
    except FileExistsError:
        if not path.is_dir():
            raise MuviError(f"{path}: exists and is not a folder") from None
    except OSError as error:
        raise MuviError(f"{path}: cannot create the folder ({error.strerror or error})") from error
    return path


def mark(folder: PathLike) -> None:
    """Write muvi's marker into a folder it just created."""
    (Path(folder) / MARKER).write_text("created by muvi; muvi may replace this folder\n", encoding="utf-8")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


__all__ = [
    "MARKER",
    "bundle_inputs",
    "check_folder",
    "check_input",
    "check_output_path",
    "check_outputs",
    "input_problem",
    "made_by_muvi",
    "make_folder",
    "mark",
    "same_file",
]
