"""The one scoring API every front end calls (docs/architecture.md, "One API for every front end").

    scorer = load_bundle()                      # once: verify the bundle, open its graphs
    result = scorer.score(ScoreRequest("clip.mp4", start=3.0, end=13.5, seed=7),
                          progress=lambda stage, fraction: ..., cancel=threading.Event())
    result.write("clip.wav")                    # atomic WAV or FLAC
    record = result.report.to_dict()            # the take's provenance, JSON-ready, versioned
    again = scorer.score(ScoreReport.from_dict(record).request())   # the same take, bit for bit

The API owns the whole take: `score` generates and masters it (`muvi_plugin.mastering`: DC and rumble
removed, the loudness target and the true-peak ceiling met, both from the bundle's defaults unless the
request says otherwise), and the report records what mastering reached. `result.audio` has exactly
`round((end - start) * sample_rate)` samples. The same seed, bundle, input and provider give the same audio.
Errors are `MuviError`s (`BundleError`, `Cancelled`, `muvi_plugin.media.MediaError`); each message names
the file and the problem.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from muvi_plugin import __version__, limits, media, rhythm
from muvi_plugin.bundle import Bundle, open_bundle
from muvi_plugin.errors import BundleError, Cancelled, MuviError
from muvi_plugin.frames import FileFrames, FrameSource, RecordingFrames, as_frame_source, is_frame_source
from muvi_plugin.mastering import Mastered, Mastering, master
from muvi_plugin.media import MediaError
from muvi_plugin.pipeline import STAGES, CancelFlag, Progress, Settings, generate
from muvi_plugin.rhythm import TempoPlan

ERRORS = (MuviError,)  # MediaError is a MuviError; kept as a tuple for `except ERRORS`
"""Everything a front end shows as one line: bad input, a bad bundle, a cancel."""
REPORT_SCHEMA = 1
"""Version of `ScoreReport.to_dict()`'s record; `from_dict` reads this version.

Fields added since (`tempo`, `tempo_plan`) are optional, with defaults that mean "not there yet": a record
written before them loads, and its `request()` makes the same take. The version changes only when a field
changes meaning or a record could no longer be read."""
OFF = "off"
"""`ScoreRequest.loudness` for no mastering at all (the audio as the model made it)."""


@dataclass(frozen=True)
class ScoreRequest:
    """What to score.

    Attributes:
        video: The media file, or any `muvi_plugin.frames.FrameSource` (e.g. a timeline's picture,
            `muvi_plugin.timeline.picture.TimelinePicture`).
        start: Range start in seconds from the media start.
        end: Range end (exclusive) in seconds; None for the end of the video.
        seed: Non-negative integer; the same seed gives the same music.
        steps: Euler steps; None for the bundle's default.
        guidance: Classifier-free guidance scale; None for the bundle's default.
        style: Optional reference audio file: the music continues its style (in-context prompt).
        style_start: Where the style prompt starts in `style`, seconds.
        loudness: Mastering's integrated loudness target in LUFS; None for the bundle's default
            (`Defaults.loudness_lufs`), `OFF` ("off", or NaN) for no mastering at all.
        ceiling: Mastering's true-peak ceiling in dBTP; None for the bundle's (`Defaults.true_peak_dbtp`).
        tempo: Beats per minute of the range's tempo plan (`muvi_plugin.rhythm`), 60 to 180; None to let
            the picture choose it. The plan is reported; the model does not follow it yet (issue 16).
    """

    video: str | os.PathLike | FrameSource
    start: float = 0.0
    end: float | None = None
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    style: str | os.PathLike | None = None
    style_start: float = 0.0
    loudness: float | str | None = None
    ceiling: float | None = None
    tempo: float | None = None

    def validate(self) -> None:
        """Check every setting against its documented range (`muvi_plugin.limits`), before any work.

        Every front end gets the same refusals: `Scorer.settings` calls this, and the command line calls
        it before the model loads. The range is checked against the media later (`Scorer.settings`).

        Raises:
            MuviError: One line naming the setting, its range and the value (e.g. "steps must be an
                integer from 1 to 200, got 100000", "start must be a finite number of seconds, got nan").
        """
        limits.integer("seed", self.seed, limits.SEED)
        if self.steps is not None:
            limits.integer("steps", self.steps, limits.STEPS)
        if self.guidance is not None:
            limits.number("guidance", self.guidance, limits.GUIDANCE)
        limits.number("start", self.start, unit="seconds")
        if self.end is not None:
            limits.number("end", self.end, unit="seconds")
        limits.number("style start", self.style_start, unit="seconds")
        if self.style_start < 0:
            raise MuviError(f"style start must not be negative, got {self.style_start:g} s")
        if self.tempo is not None:
            limits.number("tempo", self.tempo, limits.TEMPO, unit="BPM")


@dataclass(frozen=True)
class ScoreReport:
    """How a score was made.

    Attributes:
        video: The media file.
        start: Range start, seconds.
        end: Range end, seconds.
        seed: The seed.
        steps: Euler steps used.
        guidance: Guidance scale used.
        style: The style reference, or None.
        style_start: Where the style prompt started in it.
        bundle_id: The bundle's id (changes with any graph or setting).
        provider: The ONNX Runtime execution provider that ran it.
        windows: `(start, end)` seconds of each generation window.
        seconds: Seconds per stage (`rhythm`: the tempo plan; `decode`, `encoder`, `adaptor`, `dit`,
            `vae`, `vocoder`, `master`) and `total`.
        realtime_factor: Total seconds per second of music (below 1: faster than real time).
        notes: Anything the user should know (e.g. that "auto" ran on the CPU).
        mastering: The mastering settings (target, None when off; ceiling) and what was reached: integrated
            loudness, true peak, DC offset, gain (`muvi_plugin.mastering.Mastered`).
        tempo: The tempo asked for (`ScoreRequest.tempo`), None when the picture chose it (and in records
            written before it existed).
        tempo_plan: The range's tempo plan: tempo, beats and downbeats on the media clock, and which visual
            events land on beats (`muvi_plugin.rhythm.TempoPlan`); None in records written before it.
        muvi_version: The muvi that made the take.
        schema_version: The record's version (`REPORT_SCHEMA`).
    """

    video: str
    start: float
    end: float
    seed: int
    steps: int
    guidance: float
    style: str | None
    style_start: float
    bundle_id: str
    provider: str
    windows: tuple[tuple[float, float], ...]
    seconds: dict[str, float] = field(default_factory=dict)
    realtime_factor: float = 0.0
    notes: tuple[str, ...] = ()
    mastering: Mastered | None = None
    tempo: float | None = None
    tempo_plan: TempoPlan | None = None
    muvi_version: str = __version__
    schema_version: int = REPORT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """The versioned provenance record: JSON-ready (plain dicts, lists, numbers, strings, None)."""
        record = asdict(self)
        record["tempo_plan"] = None if self.tempo_plan is None else self.tempo_plan.to_dict()
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> ScoreReport:
        """Read back a record written by `to_dict` (keys it does not know, e.g. a host's own, are ignored).

        Raises:
            MuviError: Not a record, of another schema version, or missing or malformed fields (named).
        """
        if not isinstance(record, Mapping):
            raise MuviError(f"not a muvi take record (expected a mapping, got {type(record).__name__})")
        version = record.get("schema_version")
        if version != REPORT_SCHEMA:
            raise MuviError(
                f"take record schema {version!r} is not supported (this muvi reads {REPORT_SCHEMA})"
            )
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        try:
            values["windows"] = tuple((float(a), float(b)) for a, b in values.get("windows", ()))
            values["notes"] = tuple(values.get("notes", ()))
            values["seconds"] = {str(k): float(v) for k, v in values.get("seconds", {}).items()}
            if values.get("mastering") is not None:
                values["mastering"] = Mastered(**values["mastering"])
            if values.get("tempo") is not None:
                values["tempo"] = float(values["tempo"])
            if values.get("tempo_plan") is not None:
                values["tempo_plan"] = TempoPlan.from_dict(values["tempo_plan"])
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise MuviError(f"malformed take record ({error})") from error

    def request(self) -> ScoreRequest:
        """The request that makes this take again (same bundle: the same audio, bit for bit).

        For a take scored from a frame source (a timeline's picture) `video` is that source's name: pass
        the source again with `dataclasses.replace(report.request(), video=source)`.
        """
        m = self.mastering
        return ScoreRequest(
            video=self.video,
            start=self.start,
            end=self.end,
            seed=self.seed,
            steps=self.steps,
            guidance=self.guidance,
            style=self.style,
            style_start=self.style_start,
            loudness=None if m is None else (OFF if m.target_lufs is None else m.target_lufs),
            ceiling=None if m is None else m.ceiling_dbtp,
            tempo=self.tempo,
        )


@dataclass(frozen=True)
class ScoreResult:
    """The music: float32 mono `audio (samples,)` at `sample_rate`, and its `report`."""

    audio: np.ndarray
    sample_rate: int
    report: ScoreReport

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def write(self, path: str | os.PathLike) -> Path:
        """Write the take as 16-bit WAV or FLAC (by the suffix), atomically; returns the path.

        Raises:
            MuviError: An unsupported suffix, a missing folder, or a write failure (nothing is left behind).
        """
        from muvi_plugin.audio_io import write_audio  # PyAV's muxers: only writing needs them

        return write_audio(path, self.audio, self.sample_rate)


class Scorer:
    """A loaded bundle, ready to score any number of requests (one at a time or from several threads).

    Args:
        bundle: An opened bundle (`muvi_plugin.bundle.open_bundle`); `load_bundle` makes both.
    """

    def __init__(self, bundle: Bundle) -> None:
        m = bundle.manifest
        if m.audio.hop_length * m.latent.downsample * m.latent.rate != m.audio.sample_rate:
            raise BundleError(
                f"{bundle.path}: inconsistent manifest: hop {m.audio.hop_length} x downsample "
                f"{m.latent.downsample} x latent rate {m.latent.rate} != sample rate {m.audio.sample_rate}"
            )
        self.bundle = bundle

    @property
    def bundle_id(self) -> str:
        return self.bundle.bundle_id

    @property
    def provider(self) -> str:
        return self.bundle.provider

    @property
    def sample_rate(self) -> int:
        return self.bundle.manifest.audio.sample_rate

    def settings(self, request: ScoreRequest) -> Settings:
        """Check a request against the bundle and the media, and fill in the defaults.

        Raises:
            MediaError: The video is missing, unreadable, has no video stream, or the range is empty or
                outside it.
            MuviError: A setting outside its range (`ScoreRequest.validate`).
        """
        request.validate()
        d = self.bundle.manifest.defaults
        steps = d.steps if request.steps is None else request.steps
        guidance = d.guidance if request.guidance is None else request.guidance
        if is_frame_source(request.video) and not isinstance(request.video, FileFrames):
            source: FrameSource | None = request.video
            video = Path(request.video.name)
            duration = video_end = request.video.duration
        else:
            source = None
            given = request.video.path if isinstance(request.video, FileFrames) else request.video
            video = Path(given)  # type: ignore[arg-type]  # a path here: not a frame source
            info = media.probe(video)
            if not info.has_video:
                raise MediaError(video, "no video stream")
            duration, video_end = info.duration, info.video_end
        start = float(request.start)
        end = video_end if request.end is None else float(request.end)
        if not end > start:
            raise MediaError(video, f"empty range {start:g}-{end:g} s")
        if start < -media.TOLERANCE or end > duration + media.TOLERANCE:
            raise MediaError(
                video, f"range {start:g}-{end:g} s is outside the media (duration {duration:g} s)"
            )
        return Settings(
            video=video,
            start=start,
            end=end,
            seed=int(request.seed),
            steps=int(steps),
            guidance=float(guidance),
            style=None if request.style is None else Path(request.style),
            style_start=float(request.style_start),
            max_window_seconds=d.max_window_seconds,
            context_seconds=d.context_seconds,
            crossfade_seconds=d.crossfade_seconds,
            style_seconds=d.style_seconds,
            source=source,
        )

    def mastering(self, request: ScoreRequest) -> Mastering:
        """The request's mastering settings, the bundle's defaults filled in.

        Raises:
            MuviError: A loudness target outside -70..0 LUFS or a ceiling outside -20..0 dBTP.
        """
        d = self.bundle.manifest.defaults
        loudness: float | str | None = d.loudness_lufs if request.loudness is None else request.loudness
        ceiling = d.true_peak_dbtp if request.ceiling is None else request.ceiling
        if isinstance(loudness, str) and loudness.lower() != OFF:
            raise MuviError(f"loudness must be LUFS or {OFF!r}, got {loudness!r}")
        if isinstance(loudness, str) or loudness is None or math.isnan(loudness):
            loudness = None
        elif not -70.0 <= loudness <= 0.0:
            raise MuviError(f"loudness must be between -70 and 0 LUFS, got {loudness:g}")
        if not limits.TRUE_PEAK[0] <= ceiling <= limits.TRUE_PEAK[1]:  # NaN fails too
            raise MuviError(f"the true-peak ceiling must be between -20 and 0 dBTP, got {ceiling:g}")
        return Mastering(
            loudness_lufs=None if loudness is None else float(loudness), ceiling_dbtp=float(ceiling)
        )

    def tempo_plan(
        self,
        request: ScoreRequest,
        settings: Settings | None = None,
        *,
        decoded: RecordingFrames | None = None,
    ) -> TempoPlan:
        """The range's tempo plan: the picture's events at the bundle's fps and size, one tempo and phase.

        The same frames the model sees (`muvi_plugin.rhythm.picture_rhythm`), so training data, which
        computes the picture's rhythm with the same function, matches. `request.tempo` fixes the tempo.
        `decoded`: the frames a take's windows already decoded (`score` passes them), else the range is
        decoded here.

        Raises:
            MediaError: Bad input media (named).
            MuviError: Bad settings.
        """
        settings = self.settings(request) if settings is None else settings
        v = self.bundle.manifest.video
        source = settings.video if settings.source is None else settings.source
        size = (v.image_size, v.image_size)
        if decoded is not None:  # the frames the model's windows decoded
            frames = decoded.frames_of_range(settings.start, settings.end, fps=v.fps, size=size)
        else:
            frames = as_frame_source(source).frames(settings.start, settings.end, fps=v.fps, size=size)
        picture = rhythm.picture_rhythm(frames, v.fps, start=settings.start)
        return rhythm.plan_tempo(picture, tempo=request.tempo, end=settings.end)

    def score(
        self,
        request: ScoreRequest,
        *,
        progress: Progress | None = None,
        cancel: CancelFlag | None = None,
    ) -> ScoreResult:
        """Music for a video range.

        Args:
            request: What to score.
            progress: `progress(stage, fraction)`, called at every stage (`pipeline.STAGES`) and after
                every sampler step, and with ("done", 1.0) at the end; `fraction` (0 to 1, never going
                back) is the share of the whole job done.
            cancel: Anything with `is_set()` (a `threading.Event`), checked between stages and steps.

        Returns:
            Exactly `round((end - start) * sample_rate)` samples, mastered (`mastering`), and the report.

        Raises:
            Cancelled: `cancel` was set.
            MediaError: Bad input media (named).
            MuviError: Bad settings.
        """
        began = time.perf_counter()
        settings = self.settings(request)
        finish = self.mastering(request)
        # The windows decode the picture; the tempo plan is then made from those frames, not a second decode.
        picture = settings.video if settings.source is None else settings.source
        decoded = RecordingFrames(as_frame_source(picture))
        made = generate(self.bundle, replace(settings, source=decoded), progress=progress, cancel=cancel)
        rhythm_began = time.perf_counter()
        plan = self.tempo_plan(request, settings, decoded=decoded)
        seconds = {stage: made.seconds[stage] for stage in STAGES}
        seconds["rhythm"] = time.perf_counter() - rhythm_began
        mastering_began = time.perf_counter()
        audio, mastered = master(made.audio, self.sample_rate, finish)
        seconds["master"] = time.perf_counter() - mastering_began
        if cancel is not None and cancel.is_set():  # pressed during the last step or mastering
            raise Cancelled()
        seconds["total"] = time.perf_counter() - began
        rate = self.bundle.manifest.latent.rate
        windows = tuple(
            (settings.start + w.start / rate, min(settings.start + w.end / rate, settings.end))
            for w in made.windows
        )
        report = ScoreReport(
            video=os.fspath(settings.video),
            start=settings.start,
            end=settings.end,
            seed=settings.seed,
            steps=settings.steps,
            guidance=settings.guidance,
            style=None if settings.style is None else os.fspath(settings.style),
            style_start=settings.style_start,
            bundle_id=self.bundle_id,
            provider=self.provider,
            windows=windows,
            seconds=seconds,
            realtime_factor=seconds["total"] / (settings.end - settings.start),
            notes=self.bundle.notes,
            mastering=mastered,
            tempo=None if request.tempo is None else float(request.tempo),
            tempo_plan=plan,
        )
        if progress is not None:
            progress("done", 1.0)
        return ScoreResult(audio, self.sample_rate, report)


def load_bundle(
    path: str | os.PathLike | None = None, *, device: str = "auto", threads: int | None = None
) -> Scorer:
    """Verify and open a bundle, ready to score.

    Args:
        path: A bundle folder or `.zip`; None for the bundle embedded in the package.
        device: "auto" (CUDA when it works, else the CPU, noted in reports), "cpu" or "cuda".
        threads: ONNX Runtime intra-op threads per graph; None for its default.

    Raises:
        BundleError: No bundle there, a corrupt or mismatched graph (named), or the device cannot be used.
    """
    return Scorer(open_bundle(path, device=device, threads=threads))


__all__ = [
    "ERRORS",
    "OFF",
    "REPORT_SCHEMA",
    "BundleError",
    "Cancelled",
    "FrameSource",
    "Mastered",
    "Mastering",
    "MediaError",
    "MuviError",
    "ScoreReport",
    "ScoreRequest",
    "ScoreResult",
    "Scorer",
    "TempoPlan",
    "load_bundle",
]
