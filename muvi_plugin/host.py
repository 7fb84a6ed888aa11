"""The one host protocol, both ends: `muvi score ... --progress json` (docs/hosts.md, "The muvi host
protocol").

Hosts that score out of process (Blender: native crashes stay out of Blender; Resolve: its Python cannot
install numpy or ONNX Runtime) start `muvi score` with `--progress json` through `ScoreProcess`:

    job = ScoreProcess(["clip.mp4", "--end", "4", "--out", "/abs/take.wav"], on_progress=show)
    take = job.wait(cancel=flag)             # blocking (a worker thread), or poll `job.poll()` from a timer
    take.out, take.record                    # the WAV and the take's record (`ScoreReport.to_dict()`)
    job.cancel()                             # any thread: muvi stops cleanly, nothing of the take is left

The child writes one JSON object a line on stdout (`JsonEvents`), each with an `event` key:

    {"event": "progress", "stage": "dit", "fraction": 0.42}
    {"event": "result", "protocol": 1, "out": "...", "mux": null, "report": null, "record": {...}}
    {"event": "error", "message": "clip.mp4: no video stream", "exit_code": 2}
    {"event": "cancelled"}

It cancels on SIGTERM, SIGINT or when its stdin closes (`muvi_plugin.console.cancel_signals`; closing
stdin is the portable way, used by `ScoreProcess.cancel`), and exits with `EXIT_CANCELLED`, having written
nothing. This module imports only the standard library and `muvi_plugin.errors`, so Resolve's Python (no
numpy) can use the client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from muvi_plugin.errors import Cancelled, MuviError

PROTOCOL = 1
"""Version of the event lines; the result line carries it."""
EXIT_DONE, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130
"""`muvi score`'s exit codes: done; an unexpected failure (a bug) or a bundle failing verification; bad
input (one line); cancelled (SIGINT, SIGTERM or stdin closed; nothing written)."""
CANCEL_TIMEOUT = 30.0
"""Seconds `ScoreProcess.cancel` waits for muvi to stop before killing it."""

Progress = Callable[[str, float], None]


# --- the child's end (muvi score) -------------------------------------------------------------------


class JsonEvents:
    """Writes the protocol's lines on `stream` (stdout); a host that stopped reading never breaks muvi."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, default=os.fspath)
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()  # the host reads progress while muvi works
            except (BrokenPipeError, ValueError, OSError):
                self._drop()

    def progress(self, stage: str, fraction: float) -> None:
        self.emit("progress", stage=stage, fraction=round(float(fraction), 6))

    def failure(self, message: str, code: int) -> None:
        """The last line of a job that did not finish: `cancelled`, or `error` with its one-line message."""
        if code == EXIT_CANCELLED:
            self.emit("cancelled")
        else:
            self.emit("error", message=message, exit_code=code)

    def _drop(self) -> None:
        """The host closed its end: send the rest to the null device (else exiting would fail to flush)."""
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass
        self.stream = open(os.devnull, "w")  # noqa: SIM115  # lives as long as the process


# --- the host's end -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Take:
    """A finished take: the audio, the optional video copy and report file, and the take's record."""

    out: Path
    record: dict[str, Any]
    mux: Path | None = None
    report: Path | None = None

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.out, self.mux, self.report) if p is not None]


def default_command() -> list[str]:
    """How to start muvi: the `muvi` on PATH, else this interpreter's `-m muvi_plugin`."""
    found = shutil.which("muvi")
    return [found] if found else [sys.executable, "-m", "muvi_plugin"]


class ScoreProcess:
    """A running `muvi score ARGS --progress json`; its output is read by two daemon threads.

    Args:
        args: `muvi score`'s arguments: the video and options (paths and numbers are turned into text;
            `--progress json` is added).
        command: How to start muvi (`default_command()` when None).
        env: The child's environment (None: this one).
        on_progress: Called as `on_progress(stage, fraction)` from a reader thread (never a UI thread).

    Attributes (written by the reader threads, read from anywhere):
        stage, fraction: The last progress line.
        log: muvi's stderr lines, and any stdout line that is not an event.
        error: The error line's message, once one came.

    Raises:
        MuviError: muvi could not be started (named).
    """

    def __init__(
        self,
        args: Sequence[str | os.PathLike | int | float],
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        argv = [*(command or default_command()), "score", *map(_text, args), "--progress", "json"]
        self.stage, self.fraction = "starting", 0.0
        self.log: list[str] = []
        self.error: str | None = None
        self._result: dict[str, Any] | None = None
        self._on_progress = on_progress
        self._cancelled = False
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,  # open while muvi works: closing it cancels
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",  # a log line is worth showing even if a library wrote odd bytes
                env=None if env is None else dict(env),
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # Windows: no console pops up
            )
        except OSError as error:
            raise MuviError(f"{argv[0]}: cannot start muvi ({error})") from error
        self._readers = [
            threading.Thread(target=self._read_events, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_log, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def poll(self) -> int | None:
        """The exit code once muvi has ended, else None (never blocks)."""
        return self.process.poll()

    def cancel(self, timeout: float = CANCEL_TIMEOUT) -> None:
        """Stop muvi and leave nothing of the take; returns once it has ended. Safe from any thread.

        Closes muvi's stdin (it stops at its next check and removes its temporaries); kills it only when
        it has not ended within `timeout` seconds. A take muvi finished just before has its files removed.
        """
        self._cancelled = True
        if self.process.poll() is None:
            try:
                if self.process.stdin is not None:
                    self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._join()
        if self._result is not None:
            for path in _take(self._result).files:
                path.unlink(missing_ok=True)

    def result(self) -> Take:
        """The take, once muvi has ended (waits for it).

        Raises:
            Cancelled: The job was cancelled (`cancel`, or a signal to muvi); nothing was left.
            MuviError: muvi failed: the message is its error line (naming the file and the problem).
        """
        code = self.process.wait()
        self._join()
        if self._cancelled or code == EXIT_CANCELLED:
            raise Cancelled()
        if code == EXIT_DONE and self._result is not None:
            return _take(self._result)
        last = self.error or next((line for line in reversed(self.log) if line.strip()), None)
        raise MuviError(last or f"muvi ended with exit code {code}")

    def wait(self, *, cancel: Any = None, poll: float = 0.05) -> Take:
        """Block until muvi ends and return the take; cancels it when `cancel.is_set()` (an Event)."""
        while self.process.poll() is None:
            if cancel is not None and cancel.is_set():
                self.cancel()
                break
            time.sleep(poll)
        return self.result()

    def _read_events(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                event = json.loads(line)
                kind = event["event"]
            except (ValueError, TypeError, KeyError):
                self.log.append(line.rstrip())  # a library printing to stdout: kept for the log
                continue
            if kind == "progress":
                self.stage, self.fraction = str(event["stage"]), float(event["fraction"])
                try:
                    if self._on_progress is not None:
                        self._on_progress(self.stage, self.fraction)
                except Exception as error:  # the host's callback must not stop the reading (the pipe fills)
                    self.log.append(f"progress callback failed: {type(error).__name__}: {error}")
            elif kind == "result":
                self._result = event
            elif kind == "error":
                self.error = str(event.get("message", ""))

    def _read_log(self, stream: IO[str]) -> None:
        for line in stream:
            self.log.append(line.rstrip())

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5)


def _text(arg: str | os.PathLike | int | float) -> str:
    return str(arg) if isinstance(arg, (int, float)) else os.fspath(arg)


def _take(event: Mapping[str, Any]) -> Take:
    def path(key: str) -> Path | None:
        return None if event.get(key) is None else Path(event[key])

    return Take(Path(event["out"]), dict(event["record"]), mux=path("mux"), report=path("report"))


__all__ = [
    "CANCEL_TIMEOUT",
    "EXIT_BAD_INPUT",
    "EXIT_CANCELLED",
    "EXIT_DONE",
    "EXIT_FAILED",
    "PROTOCOL",
    "JsonEvents",
    "ScoreProcess",
    "Take",
    "default_command",
]
