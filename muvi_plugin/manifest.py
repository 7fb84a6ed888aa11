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
import math
import numbers
import types
import typing
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


def _matches(value: object, hint: object) -> bool:
    """Whether a JSON value fits a field's type: ints are not bools, floats are finite numbers, tuples
    may be read as lists."""
    if hint is Any:
        return True
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(item, args[0]) for item in value)
        return len(value) == len(args) and all(
            _matches(item, arg) for item, arg in zip(value, args, strict=True)
        )
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    raise TypeError(f"no check for {hint!r}")  # a field of a type this function does not know yet


def _check_types(spec: object) -> None:
    """Every field of the dataclass `spec` holds a value of its declared type (`manifest.json` is JSON
    from anywhere: a string where a number belongs would otherwise fail deep inside the runtime)."""
    hints = typing.get_type_hints(type(spec))
    for f in dataclasses.fields(spec):  # type: ignore[arg-type]
        value = getattr(spec, f.name)
        if not _matches(value, hints[f.name]):
            name = type(spec).__name__.removesuffix("Spec").lower()
            shown = json.dumps(value, default=repr)
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            raise ManifestError(f"{name}.{f.name} must be {_describe(hints[f.name])}, got {shown}")


_WORDS = {int: ("an integer", "integers"), float: ("a finite number", "finite numbers"),
          str: ("a string", "strings"), bool: ("true or false", "booleans")}  # fmt: skip


def _describe(hint: object, *, plural: bool = False) -> str:
    """`int` -> "an integer", `tuple[int | str, ...]` -> "a list of integers or strings", and so on."""
    if hint in _WORDS:
        return _WORDS[hint][plural]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg, plural=plural) for arg in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return "a list of " + _describe(args[0], plural=True)
    if origin is tuple:
        return f"a list of {len(args)} " + _describe(args[0], plural=True)
    if origin is dict:
        return "an object"
    return getattr(hint, "__name__", str(hint))


def _at_least(spec: object, minimum: float, *names: str, above: bool = False) -> None:
    for name in names:
        value = getattr(spec, name)
        if value < minimum or (above and value == minimum):
            kind = type(spec).__name__.removesuffix("Spec").lower()
            raise ManifestError(
                f"{kind}.{name} must be {'over' if above else 'at least'} {minimum:g}, got {value!r}"
            )


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output. `shape` entries are ints (fixed) or axis names (dynamic)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        _check_types(self)
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
        if not (isinstance(self.inputs, list | tuple) and isinstance(self.outputs, list | tuple)):
            raise ManifestError(f"graph {self.file!r}: inputs and outputs must be lists")
        object.__setattr__(self, "inputs", tuple(_spec(t) for t in self.inputs))
        object.__setattr__(self, "outputs", tuple(_spec(t) for t in self.outputs))
        _check_types(self)

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

    def __post_init__(self) -> None:
        _check_types(self)
        _at_least(self, 1, "sample_rate", "hop_length", "n_fft", "win_length", "n_mels")
        _at_least(self, 0, "f_min")
        _at_least(self, self.f_min, "f_max", above=True)
        _at_least(self, 0, "log_floor", above=True)


@dataclass(frozen=True)
class LatentSpec:
    channels: int
    rate: float  # latent frames per second
    downsample: int  # mel frames per latent frame
    mean: tuple[float, ...]  # per-channel normalisation
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_types(self)
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        _at_least(self, 1, "channels", "downsample")
        _at_least(self, 0, "rate", above=True)
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ManifestError("latent mean/std must have one value per latent channel")
        if min(self.std) <= 0:
            raise ManifestError(f"latent.std must be over 0 (it divides), got {min(self.std)!r}")


@dataclass(frozen=True)
class VideoSpec:
    fps: float
    image_size: int  # square frames fed to the encoder
    clip_frames: int  # MuVi App. C: fixed clip length; the last clip re-uses the last frames
    grid: tuple[int, int]
    feature_dim: int
    has_cls: bool

    def __post_init__(self) -> None:
        _check_types(self)
        object.__setattr__(self, "grid", tuple(self.grid))
        _at_least(self, 1, "image_size", "clip_frames", "feature_dim")
        _at_least(self, 0, "fps", above=True)
        if min(self.grid) < 1:
            raise ManifestError(f"video.grid must be two integers of at least 1, got {list(self.grid)}")


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
        _check_types(self)
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
        """The manifest `manifest.json` holds (its JSON read back).

        Raises:
            ManifestError: A key missing, a section that is not an object, a value of the wrong type or
                outside its range (named by its place, e.g. `graphs.encoder.file`).
        """
        if not isinstance(d, dict):
            raise ManifestError(f"malformed manifest (a JSON object expected, got {type(d).__name__})")
        try:
            sections = {key: _section(d, key) for key in ("graphs", "audio", "latent", "video")}
            graphs = {}
            for name in sections["graphs"]:
                try:
                    graphs[name] = GraphSpec(**_section(sections["graphs"], name))
                except ManifestError as error:
                    raise ManifestError(f"graphs.{name}: {error}") from None
            return cls(
                schema_version=d["schema_version"],
                name=d["name"],
                precision=d["precision"],
                opset=d["opset"],
                exporter=d["exporter"],
                graphs=graphs,
                audio=AudioSpec(**sections["audio"]),
                latent=LatentSpec(**sections["latent"]),
                video=VideoSpec(**sections["video"]),
                defaults=Defaults(**_section(d, "defaults", {})),
                provenance=_section(d, "provenance", {}),
                bundle_id=d.get("bundle_id", ""),
            )
        except KeyError as exc:
            raise ManifestError(f"malformed manifest (no {exc})") from exc
        except TypeError as exc:  # a key a section does not have, or lacks: the dataclass names it
            raise ManifestError(f"malformed manifest ({exc})") from exc


def _section(d: dict[str, Any], key: str, default: dict | None = None) -> dict[str, Any]:
    """`d[key]`, which must be a JSON object (`default` when absent, if given)."""
    if default is not None and key not in d:
        return default
    value = d[key]
    if not isinstance(value, dict):
        raise ManifestError(f"{key} must be an object, got {json.dumps(value)[:40]}")
    return value


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
