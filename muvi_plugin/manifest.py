"""The bundle manifest: the one contract between the exporter (writer) and the runtime (reader).

A bundle is a folder (or a zip of one) holding `manifest.json` and one ONNX file per graph. The dataclasses
below are the schema; `manifest.json` only holds their values. Both sides import this module, so the
writer and the reader cannot drift apart. Numpy-free on purpose: reading a manifest needs nothing.

Graphs and their I/O (shape glossary: k clips, c clip frames, t video frames, h/w patch grid, e encoder
channels, b batch, n latent frames, d DiT width, C latent channels, m mel bins, T mel frames):
    encoder        clips (k, c, 3, H, W) f32 in [0, 1]      -> patches (k, c, h, w, e) [, cls (k, c, e)]
    adaptor        patches (1, t, h, w, e) [, cls (1, t, e)], n_out () i64 -> cond (1, n, d)
    dit_condition  cond (b, n, d), drop (b, n) bool         -> c (b, n, d)
    dit_velocity   x (b, n, C), t (b, n) f32, c (b, n, d)   -> v (b, n, C)
    vae_encoder    mel (1, m, T)                            -> latent (1, C, ceil(T / 8))   (posterior mean)
    vae_decoder    latent (b, C, n)                         -> mel (b, m, 8 n)
    vocoder        mel (b, m, T)                            -> wave (b, T * hop)
The DiT works on normalised latents: `z = (latent - latent.mean) / latent.std` per channel; the runtime
applies the normalisation in numpy with the manifest's values (the graphs stay pure).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muvi_plugin import limits
from muvi_plugin.errors import MuviError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
GRAPH_NAMES = ("encoder", "adaptor", "dit_condition", "dit_velocity", "vae_encoder", "vae_decoder", "vocoder")
DTYPES = ("float32", "float16", "int64", "bool")


class ManifestError(ValueError):
    """A manifest that is missing, malformed, or of another schema version."""


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output. `shape` entries are ints (fixed) or axis names (dynamic)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ManifestError(f"tensor {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")
        object.__setattr__(self, "shape", tuple(self.shape))


@dataclass(frozen=True)
class GraphSpec:
    file: str  # relative to the bundle folder
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(_spec(t) for t in self.inputs))
        object.__setattr__(self, "outputs", tuple(_spec(t) for t in self.outputs))

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)


@dataclass(frozen=True)
class AudioSpec:
    """The music representation (MuVi Sec. 4.1): the mel front end, as `muvi_plugin.mel.MelSpec`."""

    sample_rate: int
    hop_length: int
    n_fft: int
    win_length: int
    n_mels: int
    f_min: float
    f_max: float
    log_floor: float


@dataclass(frozen=True)
class LatentSpec:
    channels: int
    rate: float  # latent frames per second
    downsample: int  # mel frames per latent frame
    mean: tuple[float, ...]  # per-channel normalisation
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ManifestError("latent mean/std must have one value per latent channel")


@dataclass(frozen=True)
class VideoSpec:
    fps: float
    image_size: int  # square frames fed to the encoder
    clip_frames: int  # MuVi App. C: fixed clip length; the last clip re-uses the last frames
    grid: tuple[int, int]
    feature_dim: int
    has_cls: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", tuple(self.grid))


@dataclass(frozen=True)
class Defaults:
    steps: int = 25  # MuVi App. B
    guidance: float = 4.0  # MuVi App. B / Sec. 4.4
    max_window_seconds: float = 30.0  # longest range generated in one pass (MuVi trains on 4-30 s)
    context_seconds: float = 5.0  # tail of the previous window kept clean when continuing (in-context)
    crossfade_seconds: float = 1.0  # equal-power crossfade inside the overlap
    style_seconds: float = 10.0  # longest style prompt taken from a reference
    loudness_lufs: float = -16.0  # mastering's integrated loudness target (muvi_plugin.mastering)
    true_peak_dbtp: float = -1.0  # mastering's true-peak ceiling

    def __post_init__(self) -> None:
        """Every default within the range the runtime accepts from a user (`muvi_plugin.limits`)."""
        try:
            limits.integer("steps", self.steps, limits.STEPS)
            limits.number("guidance", self.guidance, limits.GUIDANCE)
            window = limits.number("max_window_seconds", self.max_window_seconds, limits.WINDOW_SECONDS)
            context = limits.number("context_seconds", self.context_seconds, (0.0, window))
            limits.number("crossfade_seconds", self.crossfade_seconds, (0.0, context))
            limits.number("style_seconds", self.style_seconds, limits.STYLE_SECONDS)
            limits.number("loudness_lufs", self.loudness_lufs, limits.LOUDNESS)
            limits.number("true_peak_dbtp", self.true_peak_dbtp, limits.TRUE_PEAK)
        except MuviError as error:
            raise ManifestError(f"defaults: {error}") from None
        if context >= window:
            raise ManifestError(f"defaults: context_seconds {context:g} must be under the window {window:g}")


@dataclass(frozen=True)
class Manifest:
    name: str
    precision: str  # "fp32" or "fp16"
    opset: int
    exporter: str  # how the graphs were made, e.g. "torch.onnx.export(dynamo=False)"
    graphs: dict[str, GraphSpec]
    audio: AudioSpec
    latent: LatentSpec
    video: VideoSpec
    defaults: Defaults = field(default_factory=Defaults)
    provenance: dict[str, Any] = field(default_factory=dict)  # training data, recipe, metrics, code version
    bundle_id: str = ""  # derived from the graphs' checksums and the settings; see `compute_bundle_id`
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ManifestError(
                f"manifest schema {self.schema_version} is not supported (this muvi reads {SCHEMA_VERSION})"
            )
        if self.precision not in ("fp32", "fp16"):
            raise ManifestError(f"precision must be fp32 or fp16, got {self.precision!r}")
        missing = [g for g in GRAPH_NAMES if g not in self.graphs]
        if missing:
            raise ManifestError(f"manifest lacks graphs: {', '.join(missing)}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        try:
            return cls(
                schema_version=d["schema_version"],
                name=d["name"],
                precision=d["precision"],
                opset=d["opset"],
                exporter=d["exporter"],
                graphs={k: GraphSpec(**v) for k, v in d["graphs"].items()},
                audio=AudioSpec(**d["audio"]),
                latent=LatentSpec(**d["latent"]),
                video=VideoSpec(**d["video"]),
                defaults=Defaults(**d.get("defaults", {})),
                provenance=d.get("provenance", {}),
                bundle_id=d.get("bundle_id", ""),
            )
        except (KeyError, TypeError) as exc:
            raise ManifestError(f"malformed manifest ({exc})") from exc


def _spec(t: TensorSpec | dict[str, Any]) -> TensorSpec:
    return t if isinstance(t, TensorSpec) else TensorSpec(**t)


def compute_bundle_id(manifest: Manifest | Mapping[str, Any]) -> str:
    """A short id that changes whenever a graph or a setting changes (provenance excluded).

    It hashes the manifest as written: the `manifest.json` data read back (a dict), or the dataclass the
    exporter writes (`Manifest.to_json` is `asdict`, so both give the same id). Hashing what the file
    holds, not the dataclass with its defaults filled in, keeps an exported bundle's id when a later muvi
    adds a field with a default, and still changes it when anyone edits the file (a removed default).
    Everything but `bundle_id` and `provenance` counts, the graphs' sha256 included.
    """
    import hashlib

    d = dict(manifest) if isinstance(manifest, Mapping) else dataclasses.asdict(manifest)
    d.pop("bundle_id", None)
    d.pop("provenance", None)
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    return f"{d.get('name')}-{d.get('precision')}-{digest[:12]}"


def read_manifest(folder: str | Path) -> Manifest:
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest (is {folder} a muvi bundle?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc})") from exc
    try:
        return Manifest.from_dict(data)
    except ManifestError as exc:
        raise ManifestError(f"{path}: {exc}") from exc
