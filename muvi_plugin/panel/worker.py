"""Scoring off the GUI thread: a `QObject` worker moved to a `QThread` (docs/hosts.md, "PySide6").

The worker never touches a widget: it reports through signals, which the panel connects to bound methods
of GUI-thread objects, so Qt queues them onto the GUI thread. Cancel is a `threading.Event` that the
scoring API checks between stages and steps — a queued slot could not run while `run` is busy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from muvi_plugin.api import Cancelled, MuviError, Scorer, ScoreRequest, load_bundle


@dataclass(frozen=True)
class Job:
    """One generation: the request, the bundle to use, and where to write the take's WAV."""

    request: ScoreRequest
    bundle: Path | None
    device: str
    out: Path


class ScorerCache:
    """Loaded bundles keyed by (path, device): loading verifies checksums, so do it once per session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scorers: dict[tuple[str, str], Scorer] = {}

    def get(self, bundle: Path | None, device: str) -> Scorer:
        key = (str(bundle) if bundle is not None else "", device)
        with self._lock:
            if key not in self._scorers:
                self._scorers[key] = load_bundle(bundle, device=device)
            return self._scorers[key]


class ScoreWorker(QObject):
    """Runs one `Job` in whatever thread it was moved to.

    Signals:
        progress(stage, fraction): from the scoring API's progress callback.
        succeeded(result, path): the `ScoreResult` and the written WAV (mastered).
        failed(message): a readable one-line message (a `MuviError`'s text), never a traceback.
        cancelled(): the cancel flag stopped the job; nothing was written.
        finished(): always last, whatever happened.
    """

    progress = Signal(str, float)
    succeeded = Signal(object, object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, job: Job, scorers: ScorerCache) -> None:
        super().__init__()
        self.job = job
        self.scorers = scorers
        self.cancel_flag = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at the next stage or step. Safe to call from any thread."""
        self.cancel_flag.set()

    @Slot()
    def run(self) -> None:
        try:
            self.progress.emit("loading bundle", 0.0)
            scorer = self.scorers.get(self.job.bundle, self.job.device)
            # Mastered by the API (the bundle's loudness and ceiling, like every front end).
            result = scorer.score(self.job.request, progress=self.progress.emit, cancel=self.cancel_flag)
            result.write(self.job.out)  # atomic: no partial file, ever
            self.succeeded.emit(result, self.job.out)
        except Cancelled:
            self.cancelled.emit()
        except MuviError as error:
            self.failed.emit(str(error))
        except Exception as error:  # a bug, not bad input: still a message, not a dead window
            self.failed.emit(f"unexpected error: {type(error).__name__}: {error}")
        finally:
            self.finished.emit()
