"""Takes: every generation the panel made for one video, kept as a JSON index plus one WAV per take.

The store for a video lives in `<data root>/takes/<key>`, where the key hashes the video's absolute path
and modification time: a file edited in place gets a fresh, empty list instead of takes that no longer
match its picture. The data root is `$MUVI_PANEL_DATA` when set (tests, portable installs), else the
per-user data folder Qt reports (`~/.local/share/muvi` on Linux). No Qt widgets here.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from muvi_plugin.api import REPORT_SCHEMA, ScoreReport
from muvi_plugin.atomic import write_text

INDEX = "takes.json"
SCHEMA = 2  # 2: each take holds its record alone (1 also copied its fields beside it; still read)


def data_root() -> Path:
    """Where the panel keeps per-user data: `$MUVI_PANEL_DATA`, else Qt's generic data folder + muvi."""
    override = os.environ.get("MUVI_PANEL_DATA")
    if override:
        return Path(override)
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home() / ".local" / "share") / "muvi"


def video_key(video: str | os.PathLike) -> str:
    """A short stable key for a video file: sha256 of its absolute path and modification time."""
    path = Path(video).resolve()
    text = f"{path}|{path.stat().st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class Take:
    """One generation: its audio file (inside the store folder) and its take record.

    The record (`report`: `ScoreReport.to_dict()`, the one shape every front end keeps) is the only source
    of what was made — range, seed, steps, guidance, style, bundle, provider, mastering: the properties
    below read it, nothing is copied beside it.
    """

    id: str
    name: str
    wav: str
    sample_rate: int
    created: str
    report: dict[str, Any]

    @property
    def record(self) -> ScoreReport:
        """The record as a `ScoreReport` (`record.request()` makes the same take again)."""
        return ScoreReport.from_dict(self.report)

    start = property(lambda self: float(self.report["start"]))
    end = property(lambda self: float(self.report["end"]))
    seed = property(lambda self: int(self.report["seed"]))
    steps = property(lambda self: int(self.report["steps"]))
    guidance = property(lambda self: float(self.report["guidance"]))
    style = property(lambda self: self.report.get("style"))
    bundle_id = property(lambda self: str(self.report["bundle_id"]))
    provider = property(lambda self: str(self.report["provider"]))
    seconds = property(lambda self: float(self.report["seconds"]["total"]), doc="Seconds it took.")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def levels(self) -> str:
        """What mastering reached, from the record: "-16.0 LUFS, -1.3 dBTP" ("" for older takes)."""
        m = self.report.get("mastering") or {}
        if m.get("loudness_lufs") is None:
            return ""
        return f"{m['loudness_lufs']:.1f} LUFS, {m['true_peak_dbtp']:.1f} dBTP"

    def summary(self) -> str:
        """One line for the takes list."""
        provider = self.provider.removesuffix("ExecutionProvider")
        return (
            f"{self.name}  —  {self.start:.2f}–{self.end:.2f} s · seed {self.seed} · {self.steps} steps · "
            f"cfg {self.guidance:g} · {self.seconds:.1f} s on {provider}"
        )


class TakeStore:
    """The takes of one video, persisted in `folder` (created on the first write).

    Args:
        video: The video the takes belong to.
        root: The data root; None for `data_root()`.
    """

    def __init__(self, video: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
        self.video = Path(video)
        self.folder = Path(root if root is not None else data_root()) / "takes" / video_key(video)
        self.takes: list[Take] = self._load()

    def _load(self) -> list[Take]:
        index = self.folder / INDEX
        if not index.is_file():
            return []
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            names = {f.name for f in fields(Take)}
            found = [t if "report" in t else _with_record(t, self.video) for t in data.get("takes", [])]
            takes = [Take(**{k: v for k, v in t.items() if k in names}) for t in found]
        except (OSError, ValueError, TypeError):
            return []  # a damaged index must not stop the panel from opening the video
        return [t for t in takes if (self.folder / t.wav).is_file()]

    def new_audio_path(self) -> tuple[str, Path]:
        """A fresh take id and the WAV path its audio should be written to (the folder is created)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        take_id = uuid.uuid4().hex[:12]
        return take_id, self.folder / f"{take_id}.wav"

    def path(self, take: Take) -> Path:
        return self.folder / take.wav

    def add(self, take: Take) -> Take:
        self.takes.append(take)
        self.save()
        return take

    def get(self, take_id: str) -> Take:
        for take in self.takes:
            if take.id == take_id:
                return take
        raise KeyError(take_id)

    def rename(self, take_id: str, name: str) -> None:
        self.get(take_id).name = name.strip() or self.get(take_id).name
        self.save()

    def delete(self, take_id: str) -> None:
        take = self.get(take_id)
        self.takes.remove(take)
        self.save()
        self.path(take).unlink(missing_ok=True)

    def next_name(self) -> str:
        return f"Take {len(self.takes) + 1}"

    def save(self) -> None:
        """Write the index atomically (a temporary file renamed over it), so a crash never truncates it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"schema": SCHEMA, "video": os.fspath(self.video), "takes": [asdict(t) for t in self.takes]}
        write_text(self.folder / INDEX, json.dumps(data, indent=1))


def _with_record(take: dict[str, Any], video: Path) -> dict[str, Any]:
    """A take saved before takes kept their record (schema 1): its flat fields made into one."""
    flat = ("start", "end", "seed", "steps", "guidance", "style", "bundle_id", "provider")
    record = {key: take[key] for key in flat} | {"video": os.fspath(video), "style_start": 0.0, "windows": []}
    record |= {"seconds": {"total": take["seconds"]}, "schema_version": REPORT_SCHEMA, "muvi_version": "?"}
    return take | {"report": record}


def now() -> str:
    """The current UTC time, ISO 8601, for `Take.created`."""
    return datetime.now(UTC).isoformat(timespec="seconds")
