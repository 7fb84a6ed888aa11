"""Export wrappers: one `nn.Module` per bundle graph, with the graph's named inputs and outputs.

Names, dtypes and axes are those of the table in `muvi_plugin.manifest`'s docstring (the contract with the
runtime). Each wrapper's `forward` takes the graph's inputs in order and returns its outputs in order, so
`torch.onnx.export` and the parity check (`export.verify`) call the same code.

A `GraphDef` also carries the inputs the graph is traced with and the cases it is verified on. Tracing uses
lengths that are never verified on, and every graph is verified on odd lengths and on a length longer than
the traced one, so a size frozen into the graph by the tracer cannot go unnoticed.

Shapes: `k` clips, `c` clip frames, `t` video frames, `h w` patch grid, `e` encoder width, `b` batch,
`n` latent frames, `d` DiT width, `C` latent channels, `m` mel bands, `T` mel frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from training.models.adaptor import VisualAdaptor
from training.models.dit import DiT
from training.models.vae import MelVAE
from training.models.visual_encoder import PatchFeatures, VisualEncoder
from training.models.vocoder import HiFiGANGenerator, build_vocoder
from training.models.vocos import VocosGenerator

PART_NAMES = ("visual_encoder", "adaptor", "dit", "vae", "vocoder")
"""The model parts a bundle is exported from, named as in checkpoints (`training.models.registry`)."""

Inputs = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class GraphDef:
    """One bundle graph: the wrapper to export and how to trace and verify it.

    Attributes:
        name: The graph's name in the manifest (`muvi_plugin.manifest.GRAPH_NAMES`).
        module: The export wrapper, in eval mode.
        input_names: Graph input names, in `forward`'s argument order.
        output_names: Graph output names, in the order `forward` returns them.
        dynamic_axes: Per input/output name, axis index -> axis name (the manifest's glossary letters).
        trace_inputs: The example inputs `torch.onnx.export` traces with.
        verify_inputs: Cases ONNX Runtime is compared with PyTorch on (other lengths than the traced one).
        tolerance_scale: Multiplies the precision's tolerance for this graph. 1 but for a vocoder that runs
            Griffin-Lim iterations in the graph: each re-synthesises and re-analyses the last one's output,
            so the two runtimes' rounding differences grow with the number of iterations (one unit per
            four iterations; at 32, 8x fp32's 1e-4 of the peak is still 60 dB under it).
    """

    name: str
    module: nn.Module
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    trace_inputs: Inputs
    verify_inputs: tuple[Inputs, ...]
    tolerance_scale: float = 1.0


# --- wrappers ---------------------------------------------------------------------------------------------


class EncoderGraph(nn.Module):
    """`clips (k, c, 3, H, W)` in [0, 1] -> `patches (k, c, h, w, e)` [, `cls (k, c, e)`]."""

    def __init__(self, encoder: VisualEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.encoder.encode_clips(clips)
        return (out.patches,) if out.cls is None else (out.patches, out.cls)


class AdaptorGraph(nn.Module):
    """`patches (1, t, h, w, e)` [, `cls (1, t, e)`], `n_out ()` int64 -> `cond (1, n, d)`.

    Args:
        adaptor: The visual adaptor.
        with_cls: Whether the graph takes `cls`: True exactly when the encoder has a CLS token, so the
            runtime can feed the encoder's outputs through unchanged, whatever the adaptor's mode.
    """

    def __init__(self, adaptor: VisualAdaptor, *, with_cls: bool) -> None:
        super().__init__()
        self.adaptor = adaptor
        self.with_cls = with_cls

    def forward(self, patches: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        cls, n_out = rest if self.with_cls else (None, rest[0])
        cond = self.adaptor(PatchFeatures(patches, cls), n_out=n_out)
        if cls is not None and not self.adaptor.config.needs_cls:
            # The tracer drops inputs nothing reads; an exact zero keeps `cls` a graph input.
            cond = cond + 0.0 * cls[:, :1, :1].sum()
        return cond


class DiTConditionGraph(nn.Module):
    """`cond (b, n, d)`, `drop (b, n)` bool -> `c (b, n, d)`: the DiT's condition path."""

    def __init__(self, dit: DiT) -> None:
        super().__init__()
        self.dit = dit

    def forward(self, cond: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        return self.dit.condition(cond, drop=drop)


class DiTVelocityGraph(nn.Module):
    """`x (b, n, C)`, `t (b, n)`, `c (b, n, d)` -> `v (b, n, C)`: the DiT's velocity path, once per step."""

    def __init__(self, dit: DiT) -> None:
        super().__init__()
        self.dit = dit

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.dit.velocity(x, t, c)


class VAEEncoderGraph(nn.Module):
    """`mel (1, m, T)` -> `latent (1, C, ceil(T / 8))`: the posterior mean (unnormalised)."""

    def __init__(self, vae: MelVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(mel).mean


class VAEDecoderGraph(nn.Module):
    """`latent (b, C, n)` (unnormalised) -> `mel (b, m, 8 n)`."""

    def __init__(self, vae: MelVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent)


class VocoderGraph(nn.Module):
    """`mel (b, m, T)` -> `wave (b, T * hop)`, from a copy of the generator with weight norm folded in.

    Either family: HiFi-GAN, or Vocos with its fixed inverse STFT inside the graph (a constant
    `ConvTranspose` basis), so the runtime runs both the same way."""

    def __init__(self, vocoder: nn.Module) -> None:
        super().__init__()
        # A fresh copy, since folding weight norm must not change the caller's (trainable) model. Not
        # copy.deepcopy: the copy would share the class parametrisation injects, and removing the weight
        # norm from the copy would delete the original's `weight` property too.
        with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not move global RNG
            self.vocoder = build_vocoder(vocoder.config)
        self.vocoder.load_state_dict(vocoder.state_dict())
        self.vocoder.remove_weight_norm()  # type: ignore[operator]
        # Buffers derived from the config (Vocos' DFT bases, its magnitude prior and starting phase) are left
        # out of state dicts; the tracer would then inline a copy as a constant at every use, once per
        # Griffin-Lim iteration (hundreds of MB). Made persistent here, each is one shared initializer.
        for module in self.vocoder.modules():
            module._non_persistent_buffers_set.clear()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.vocoder(mel).squeeze(1)


# --- definitions -----------------------------------------------------------------------------------------

# Lengths: traced with one set, verified on others (odd ones, and one past the traced length).
TRACE_CLIPS = 2
VERIFY_CLIPS = (1, 3)
# (b, n) for the DiT and the VAE decoder; the runtime runs the DiT at b = 2 (both guidance branches).
TRACE_BATCH_FRAMES = (3, 12)
VERIFY_BATCH_FRAMES = ((1, 7), (2, 13), (4, 41))
TRACE_ADAPTOR = (12, 20)  # (t video frames, n_out)
VERIFY_ADAPTOR = ((1, 3), (7, 13), (33, 50), (17, 9))
TRACE_MEL_FRAMES = 96
VERIFY_MEL_FRAMES = (5, 37, 203)
TRACE_VOCODER = (3, 16)  # (b, T)
VERIFY_VOCODER = ((1, 7), (4, 13), (1, 41))


Parts = tuple[VisualEncoder, VisualAdaptor, DiT, MelVAE, HiFiGANGenerator | VocosGenerator]
_PART_TYPES: tuple[type | tuple[type, ...], ...] = (
    VisualEncoder,
    VisualAdaptor,
    DiT,
    MelVAE,
    (HiFiGANGenerator, VocosGenerator),
)


def typed_parts(parts: dict[str, nn.Module]) -> Parts:
    """The parts of `PART_NAMES`, in that order, each checked to be of its model class."""
    missing = [p for p in PART_NAMES if p not in parts]
    if missing:
        raise ValueError(
            f"export needs the model parts {', '.join(PART_NAMES)}; missing: {', '.join(missing)}"
        )
    for name, kind in zip(PART_NAMES, _PART_TYPES, strict=True):
        if not isinstance(parts[name], kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            wanted = " or ".join(k.__name__ for k in kinds)
            raise ValueError(f"part {name!r} is a {type(parts[name]).__name__}, not a {wanted}")
    return cast(Parts, tuple(parts[p] for p in PART_NAMES))


def check_parts(parts: dict[str, nn.Module]) -> None:
    """Raise ValueError unless `parts` holds every part of `PART_NAMES` and they fit together."""
    encoder, adaptor, dit, vae, vocoder = typed_parts(parts)
    if (adaptor.config.in_dim, adaptor.config.grid) != (encoder.feature_dim, tuple(encoder.grid)):
        raise ValueError(
            f"the adaptor expects features of width {adaptor.config.in_dim} on a {adaptor.config.grid} grid; "
            f"the encoder gives {encoder.feature_dim} on {tuple(encoder.grid)}"
        )
    if adaptor.config.width != dit.config.width:
        raise ValueError(f"adaptor width {adaptor.config.width} != DiT width {dit.config.width}")
    if vae.config.latent_channels != dit.config.latent_channels:
        raise ValueError(
            f"VAE latent channels {vae.config.latent_channels} != DiT's {dit.config.latent_channels}"
        )
    if vae.config.n_mels != vocoder.config.n_mels:
        raise ValueError(f"VAE mel bands {vae.config.n_mels} != vocoder's {vocoder.config.n_mels}")


def graph_defs(parts: dict[str, nn.Module], *, seed: int = 0) -> dict[str, GraphDef]:
    """Every bundle graph of `parts`, in `muvi_plugin.manifest.GRAPH_NAMES` order.

    Args:
        parts: `visual_encoder`, `adaptor`, `dit`, `vae` and `vocoder` (checkpoint part names). The
            wrappers put them in eval mode: export must not see dropout.
        seed: Seeds the random trace and verification inputs.

    Raises:
        ValueError: A part is missing, or the parts do not fit together.
    """
    check_parts(parts)
    encoder, adaptor, dit, vae, vocoder = typed_parts(parts)
    g = torch.Generator().manual_seed(seed)
    defs = [
        _encoder(encoder, g),
        _adaptor(adaptor, encoder, g),
        _dit_condition(dit, g),
        _dit_velocity(dit, g),
        _vae_encoder(vae, g),
        _vae_decoder(vae, g),
        _vocoder(vocoder, g),
    ]
    return {d.name: d for d in defs}


def _cases(make: Callable[..., Inputs], trace: Any, verify: tuple) -> tuple[Inputs, tuple[Inputs, ...]]:
    as_args = lambda x: x if isinstance(x, tuple) else (x,)  # noqa: E731
    return make(*as_args(trace)), tuple(make(*as_args(v)) for v in verify)


def _encoder(encoder: VisualEncoder, g: torch.Generator) -> GraphDef:
    clip, size = encoder.clip_frames, encoder.image_size
    trace, verify = _cases(
        lambda k: (torch.rand(k, clip, 3, size, size, generator=g),), TRACE_CLIPS, VERIFY_CLIPS
    )
    outputs = ("patches", "cls") if encoder.has_cls else ("patches",)
    return GraphDef(
        name="encoder",
        module=EncoderGraph(encoder).eval(),
        input_names=("clips",),
        output_names=outputs,
        dynamic_axes={name: {0: "k"} for name in ("clips", *outputs)},
        trace_inputs=trace,
        verify_inputs=verify,
    )


def _adaptor(adaptor: VisualAdaptor, encoder: VisualEncoder, g: torch.Generator) -> GraphDef:
    (h, w), e = adaptor.config.grid, adaptor.config.in_dim
    with_cls = encoder.has_cls

    def make(t: int, n: int) -> Inputs:
        patches = torch.randn(1, t, h, w, e, generator=g)
        n_out = torch.tensor(n, dtype=torch.int64)
        return (patches, torch.randn(1, t, e, generator=g), n_out) if with_cls else (patches, n_out)

    trace, verify = _cases(make, TRACE_ADAPTOR, VERIFY_ADAPTOR)
    inputs = ("patches", "cls", "n_out") if with_cls else ("patches", "n_out")
    axes = {"patches": {1: "t"}, "cond": {1: "n"}} | ({"cls": {1: "t"}} if with_cls else {})
    return GraphDef(
        name="adaptor",
        module=AdaptorGraph(adaptor, with_cls=with_cls).eval(),
        input_names=inputs,
        output_names=("cond",),
        dynamic_axes=axes,
        trace_inputs=trace,
        verify_inputs=verify,
    )


def _dit_condition(dit: DiT, g: torch.Generator) -> GraphDef:
    d = dit.config.width

    def make(b: int, n: int) -> Inputs:
        return torch.randn(b, n, d, generator=g), torch.rand(b, n, generator=g) < 0.5

    trace, verify = _cases(make, TRACE_BATCH_FRAMES, VERIFY_BATCH_FRAMES)
    bn = {0: "b", 1: "n"}
    return GraphDef(
        name="dit_condition",
        module=DiTConditionGraph(dit).eval(),
        input_names=("cond", "drop"),
        output_names=("c",),
        dynamic_axes={"cond": bn, "drop": bn, "c": bn},
        trace_inputs=trace,
        verify_inputs=verify,
    )


def _dit_velocity(dit: DiT, g: torch.Generator) -> GraphDef:
    d, channels = dit.config.width, dit.config.latent_channels

    def make(b: int, n: int) -> Inputs:
        t = torch.rand(b, n, generator=g)
        t[:, : n // 4] = 1.0  # in-context frames carry t = 1
        return torch.randn(b, n, channels, generator=g), t, torch.randn(b, n, d, generator=g)

    trace, verify = _cases(make, TRACE_BATCH_FRAMES, VERIFY_BATCH_FRAMES)
    bn = {0: "b", 1: "n"}
    return GraphDef(
        name="dit_velocity",
        module=DiTVelocityGraph(dit).eval(),
        input_names=("x", "t", "c"),
        output_names=("v",),
        dynamic_axes={"x": bn, "t": bn, "c": bn, "v": bn},
        trace_inputs=trace,
        verify_inputs=verify,
    )


def _log_mel(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    # Roughly the range of natural-log mel magnitudes (floor log(1e-5) = -11.5).
    return torch.randn(*shape, generator=g) * 2.0 - 5.0


def _vae_encoder(vae: MelVAE, g: torch.Generator) -> GraphDef:
    m = vae.config.n_mels
    trace, verify = _cases(lambda t: (_log_mel((1, m, t), g),), TRACE_MEL_FRAMES, VERIFY_MEL_FRAMES)
    return GraphDef(
        name="vae_encoder",
        module=VAEEncoderGraph(vae).eval(),
        input_names=("mel",),
        output_names=("latent",),
        dynamic_axes={"mel": {2: "T"}, "latent": {2: "n"}},
        trace_inputs=trace,
        verify_inputs=verify,
    )


def _vae_decoder(vae: MelVAE, g: torch.Generator) -> GraphDef:
    channels = vae.config.latent_channels

    def make(b: int, n: int) -> Inputs:
        z = torch.randn(b, n, channels, generator=g)
        return (vae.denormalize(z.transpose(1, 2)).contiguous(),)  # latents as the DiT leaves them

    trace, verify = _cases(make, TRACE_BATCH_FRAMES, VERIFY_BATCH_FRAMES)
    return GraphDef(
        name="vae_decoder",
        module=VAEDecoderGraph(vae).eval(),
        input_names=("latent",),
        output_names=("mel",),
        dynamic_axes={"latent": {0: "b", 2: "n"}, "mel": {0: "b", 2: "T"}},
        trace_inputs=trace,
        verify_inputs=verify,
    )


def _vocoder(vocoder: nn.Module, g: torch.Generator) -> GraphDef:
    m = int(vocoder.config.n_mels)  # type: ignore[union-attr, arg-type]
    trace, verify = _cases(lambda b, t: (_log_mel((b, m, t), g),), TRACE_VOCODER, VERIFY_VOCODER)
    return GraphDef(
        name="vocoder",
        module=VocoderGraph(vocoder).eval(),
        input_names=("mel",),
        output_names=("wave",),
        dynamic_axes={"mel": {0: "b", 2: "T"}, "wave": {0: "b", 1: "samples"}},
        trace_inputs=trace,
        verify_inputs=verify,
        tolerance_scale=max(1.0, getattr(vocoder.config, "phase_iterations", 0) / 4),
    )
