"""Visual encoders: frames -> one grid of patch features per frame (MuVi Sec. 3.1, App. C).

Every encoder takes frames already sampled at VIDEO_FPS, as floats in [0, 1] at its `image_size`, normalises
them itself (so an exported graph can be fed raw frames) and returns `PatchFeatures` with one entry for
every input frame. The pre-trained ones (VideoMAE, VideoMAE V2, CLIP) only see fixed-length clips, so a
video is cut into clips stacked on the batch axis and the clip outputs are stitched back (App. C):
`split_into_clips` and `stitch_clips` are pure functions, and `VisualEncoder.encode_clips` is the per-clip
graph the runtime calls (it does the same cutting and stitching in numpy).

Shapes: `b` batch, `t` frames, `k` clips (stacked on the batch axis), `clip` frames per clip,
`H W` image size, `h w` patch grid, `c` feature width.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from transformers import CLIPVisionModel, VideoMAEConfig, VideoMAEModel

from muvi_plugin.clips import clip_starts, split_index, stitch_index
from muvi_plugin.constants import ENCODER_CLIP_FRAMES
from training.layers.vit import LAYER_NORM_EPS, read_state_dict

KINDS = ("videomae", "videomae_v2", "clip", "scratch")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_DEFAULT_MEAN = {"videomae": _IMAGENET_MEAN, "videomae_v2": _IMAGENET_MEAN, "clip": _CLIP_MEAN}
_DEFAULT_STD = {"videomae": _IMAGENET_STD, "videomae_v2": _IMAGENET_STD, "clip": _CLIP_STD}


class PatchFeatures(NamedTuple):
    """Per-frame encoder output: `patches` (b, t, h, w, c) and `cls` (b, t, c), None without a CLS token."""

    patches: torch.Tensor
    cls: torch.Tensor | None = None


@dataclass(frozen=True)
class VisualEncoderConfig:
    """Which visual encoder, and the geometry it must have.

    Args:
        kind: "videomae", "videomae_v2", "clip" (pre-trained, frozen) or "scratch" (small, trainable).
        checkpoint: Local weights of a pre-trained kind: a transformers directory, or for the VideoMAE
            kinds also an original `.pth`/`.bin`/`.safetensors` state dict. Never a hub name.
        image_size: Square input side in pixels.
        clip_frames: Frames per encoder clip (MuVi App. C: 16 for VideoMAE / VideoMAE V2).
        patch_size: Patch side in pixels; `image_size // patch_size` is the grid.
        dim: Feature width `c` (checked against a pre-trained checkpoint).
        heads: Attention heads of a VideoMAE state dict (not recoverable from its tensor shapes).
        depth: Scratch only: temporal mixing blocks.
        temporal_kernel: Scratch only: kernel of the temporal convolution (odd).
        mean: Per-channel pixel mean; None -> the kind's own (ImageNet, OpenAI CLIP, 0.5 for scratch).
        std: Per-channel pixel std; None -> the kind's own.
    """

    kind: str = "scratch"
    checkpoint: str | None = None
    image_size: int = 224
    clip_frames: int = ENCODER_CLIP_FRAMES
    patch_size: int = 16
    dim: int = 768
    heads: int = 12
    depth: int = 2
    temporal_kernel: int = 3
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __post_init__(self):
        for name in ("mean", "std"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if self.kind not in KINDS:
            raise ValueError(f"unknown visual encoder kind {self.kind!r}; expected one of {KINDS}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.clip_frames < 1:
            raise ValueError(f"clip_frames must be positive, got {self.clip_frames}")
        if self.kind in ("videomae", "videomae_v2") and self.clip_frames % 2:
            raise ValueError(f"VideoMAE clips need an even frame count (tubelet 2), got {self.clip_frames}")
        if self.kind == "scratch" and self.patch_size % 4:
            raise ValueError(f"scratch patch_size must be a multiple of 4, got {self.patch_size}")
        if self.temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd, got {self.temporal_kernel}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != 3:
                raise ValueError(f"{name} needs 3 values (RGB), got {value}")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (h, w)."""
        side = self.image_size // self.patch_size
        return (side, side)

    @property
    def feature_dim(self) -> int:
        return self.dim

    @property
    def has_cls(self) -> bool:
        return self.kind == "clip"

    @property
    def trainable(self) -> bool:
        """Only the scratch encoder learns; pre-trained encoders are frozen (MuVi App. B)."""
        return self.kind == "scratch"

    @property
    def pixel_mean(self) -> tuple[float, float, float]:
        return self.mean or _DEFAULT_MEAN.get(self.kind, (0.5, 0.5, 0.5))

    @property
    def pixel_std(self) -> tuple[float, float, float]:
        return self.std or _DEFAULT_STD.get(self.kind, (0.5, 0.5, 0.5))


DEBUG = VisualEncoderConfig(kind="scratch", image_size=32, patch_size=8, dim=32, depth=1)
DEMO = VisualEncoderConfig(kind="scratch", image_size=96, patch_size=16, dim=128, depth=2)
# MuVi Sec. 4.2: all pre-trained encoders are the base, patch-16 versions; VideoMAE V2 was chosen.
VIDEOMAE_V2_B16 = VisualEncoderConfig(kind="videomae_v2", image_size=224, patch_size=16, dim=768, heads=12)
VIDEOMAE_B16 = dataclasses.replace(VIDEOMAE_V2_B16, kind="videomae")
CLIP_B16 = VisualEncoderConfig(kind="clip", image_size=224, patch_size=16, dim=768, heads=12)
SMALL = BASE = LARGE = VIDEOMAE_V2_B16
PRESETS: dict[str, VisualEncoderConfig] = {
    "debug": DEBUG,
    "demo": DEMO,
    "small": SMALL,
    "base": BASE,
    "large": LARGE,
}


# --- MuVi App. C: fixed-length clips stacked on the batch axis, stitched back --------------------------
# The index arithmetic is the runtime's (`muvi_plugin.clips`), so training and runtime cut alike.


def split_into_clips(frames: torch.Tensor, clip: int) -> torch.Tensor:
    """Cut (b, t, ...) into clips stacked on the batch axis: (b * k, clip, ...), video-major.

    Args:
        frames: Any tensor with time on axis 1.
        clip: Frames per clip.

    Returns:
        The k clips of video 0, then those of video 1, and so on; see `clip_starts` for where they start.
    """
    b, t = frames.shape[:2]
    index = split_index(t, clip)
    picked = frames.index_select(1, torch.tensor(index, device=frames.device))
    return picked.reshape(b * (len(index) // clip), clip, *frames.shape[2:])


def stitch_clips(features: torch.Tensor, *, batch: int, t: int, clip: int) -> torch.Tensor:
    """Undo `split_into_clips`: (b * k, clip, ...) -> (b, t, ...).

    Full clips are joined end to end; from the last, overlapping clip only its new tail is kept, and the
    padding of a video shorter than one clip is cropped.
    """
    k = len(clip_starts(t, clip))
    if features.shape[0] != batch * k or features.shape[1] != clip:
        raise ValueError(
            f"expected ({batch * k}, {clip}, ...) clip features for batch={batch}, t={t}, "
            f"got {tuple(features.shape)}"
        )
    joined = features.reshape(batch, k * clip, *features.shape[2:])
    return joined.index_select(1, torch.tensor(stitch_index(t, clip), device=features.device))


# --- encoders --------------------------------------------------------------------------------------------


class VisualEncoder(nn.Module):
    """Base class: normalisation, clip cutting/stitching and the properties adaptors read."""

    def __init__(self, config: VisualEncoderConfig):
        super().__init__()
        self.config = config
        self.register_buffer(
            "pixel_mean", torch.tensor(config.pixel_mean).view(1, 1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(config.pixel_std).view(1, 1, 3, 1, 1), persistent=False
        )

    # The geometry adaptors read, mirrored from the config (a loaded checkpoint was checked against it).
    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    @property
    def grid(self) -> tuple[int, int]:
        return self.config.grid

    @property
    def has_cls(self) -> bool:
        return self.config.has_cls

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def clip_frames(self) -> int:
        return self.config.clip_frames

    @property
    def trainable(self) -> bool:
        return self.config.trainable

    def train(self, mode: bool = True) -> "VisualEncoder":
        # A frozen pre-trained encoder stays in eval mode (no dropout) even inside a training model.
        return super().train(mode and self.trainable)

    def encode_clips(self, clips: torch.Tensor) -> PatchFeatures:
        """Encode fixed-length clips (k, clip, 3, H, W) in [0, 1] to PatchFeatures (k, clip, h, w, c)."""
        expected = (self.clip_frames, 3, self.image_size, self.image_size)
        if clips.dim() != 5 or tuple(clips.shape[1:]) != expected:
            raise ValueError(
                f"expected clips of shape (k, {', '.join(map(str, expected))}), got {tuple(clips.shape)}"
            )
        return self._encode((clips - self.pixel_mean) / self.pixel_std)

    def _encode(self, clips: torch.Tensor) -> PatchFeatures:
        raise NotImplementedError

    def forward(self, frames: torch.Tensor, *, lengths: torch.Tensor | None = None) -> PatchFeatures:
        """Encode videos of any length (b, t, 3, H, W) in [0, 1] to PatchFeatures (b, t, h, w, c).

        Args:
            frames: A batch of videos, possibly zero-padded at the end to a common length.
            lengths: (b,) real frame counts of a padded batch. Each video is then cut by its own length, so
                its last clip re-uses its last real frames rather than padding (MuVi App. C); features of
                padding frames are zero. None: every video is `t` frames long.
        """
        if frames.dim() != 5:
            raise ValueError(f"expected frames (b, t, 3, H, W), got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        clip = self.clip_frames
        if lengths is None:
            out = self.encode_clips(split_into_clips(frames, clip))
            patches = stitch_clips(out.patches, batch=b, t=t, clip=clip)
            cls = None if out.cls is None else stitch_clips(out.cls, batch=b, t=t, clip=clip)
            return PatchFeatures(patches, cls)
        lengths = [int(n) for n in lengths]
        if len(lengths) != b or not all(1 <= n <= t for n in lengths):
            raise ValueError(f"lengths must be {b} values in [1, {t}], got {lengths}")
        # All videos' clips go through the encoder as one batch, then each video is stitched on its own.
        out = self.encode_clips(
            torch.cat([split_into_clips(frames[i : i + 1, :n], clip) for i, n in enumerate(lengths)])
        )
        patches = _stitch_each(out.patches, lengths=lengths, t=t, clip=clip)
        cls = None if out.cls is None else _stitch_each(out.cls, lengths=lengths, t=t, clip=clip)
        return PatchFeatures(patches, cls)


def _stitch_each(features: torch.Tensor, *, lengths: list[int], t: int, clip: int) -> torch.Tensor:
    """Stitch the clips of videos cut by their own lengths, each padded with zero frames to `t`."""
    counts = [len(clip_starts(n, clip)) for n in lengths]
    videos = []
    for part, n in zip(features.split(counts), lengths, strict=True):
        video = stitch_clips(part, batch=1, t=n, clip=clip)
        videos.append(torch.cat([video, video.new_zeros(1, t - n, *video.shape[2:])], dim=1))
    return torch.cat(videos)


class VideoMAEVisualEncoder(VisualEncoder):
    """A frozen transformers `VideoMAEModel` (VideoMAE or VideoMAE V2 weights).

    Tubelets of 2 frames give clip/2 temporal tokens; each is repeated for its 2 frames so every input
    frame gets a patch grid (MuVi App. C keeps the temporal axis of the last hidden state).
    """

    def __init__(self, config: VisualEncoderConfig, model: VideoMAEModel):
        super().__init__(config)
        mc = model.config
        found = (mc.num_frames, mc.image_size, mc.patch_size, mc.hidden_size)
        wanted = (config.clip_frames, config.image_size, config.patch_size, config.dim)
        if found != wanted or config.clip_frames % mc.tubelet_size:
            raise ValueError(
                f"checkpoint {config.checkpoint} has (frames, image_size, patch_size, dim) = {found}, "
                f"the config asks for {wanted}"
            )
        self.model = model
        self.tubelet = mc.tubelet_size

    def _encode(self, clips: torch.Tensor) -> PatchFeatures:
        k, (h, w), c = clips.shape[0], self.grid, self.feature_dim
        tokens = self.model(pixel_values=clips).last_hidden_state  # (k, clip / tubelet * h * w, c)
        tokens = tokens.reshape(k, self.clip_frames // self.tubelet, 1, h, w, c)
        patches = tokens.expand(-1, -1, self.tubelet, -1, -1, -1).reshape(k, self.clip_frames, h, w, c)
        return PatchFeatures(patches, None)


class ClipVisualEncoder(VisualEncoder):
    """A frozen transformers `CLIPVisionModel`, run per frame: CLS = token 0, patches = the rest."""

    def __init__(self, config: VisualEncoderConfig, model: CLIPVisionModel):
        super().__init__(config)
        mc = model.config
        found = (mc.image_size, mc.patch_size, mc.hidden_size)
        wanted = (config.image_size, config.patch_size, config.dim)
        if found != wanted:
            raise ValueError(
                f"checkpoint {config.checkpoint} has (image_size, patch_size, dim) = {found}, "
                f"the config asks for {wanted}"
            )
        self.model = model

    def _encode(self, clips: torch.Tensor) -> PatchFeatures:
        k, (h, w), c = clips.shape[0], self.grid, self.feature_dim
        hidden = self.model(pixel_values=clips.flatten(0, 1)).last_hidden_state  # (k * clip, 1 + h * w, c)
        cls = hidden[:, 0].reshape(k, self.clip_frames, c)
        patches = hidden[:, 1:].reshape(k, self.clip_frames, h, w, c)
        return PatchFeatures(patches, cls)


class _TemporalMix(nn.Module):
    """Residual temporal convolution inside a clip, then a pointwise layer: (k, clip, h, w, c)."""

    def __init__(self, dim: int, kernel: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.act = nn.GELU()
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, clip, h, w, c = x.shape
        y = self.norm(x).permute(0, 2, 3, 4, 1).reshape(k * h * w, c, clip)
        y = self.act(self.conv(y)).reshape(k, h, w, c, clip).permute(0, 4, 1, 2, 3)
        return x + self.out(y)


class ScratchVisualEncoder(VisualEncoder):
    """A small trainable encoder: a two-stage conv patchify per frame, then temporal mixing in the clip.

    It stands in for the pre-trained encoders where no weights are reachable (the embedded demo model): the
    first stage has stride 4, the second `patch_size / 4`, so a frame becomes the same kind of patch grid.
    """

    def __init__(self, config: VisualEncoderConfig):
        super().__init__(config)
        inner = config.patch_size // 4
        self.stem = nn.Sequential(
            nn.Conv2d(3, config.dim // 2, kernel_size=4, stride=4),
            nn.GELU(),
            nn.Conv2d(config.dim // 2, config.dim, kernel_size=inner, stride=inner),
        )
        self.blocks = nn.ModuleList(
            _TemporalMix(config.dim, config.temporal_kernel) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.dim)

    def _encode(self, clips: torch.Tensor) -> PatchFeatures:
        k, (h, w), c = clips.shape[0], self.grid, self.feature_dim
        x = self.stem(clips.flatten(0, 1))  # (k * clip, c, h, w)
        x = x.reshape(k, self.clip_frames, c, h, w).permute(0, 1, 3, 4, 2)
        for block in self.blocks:
            x = block(x)
        return PatchFeatures(self.norm(x), None)


# --- loading ------------------------------------------------------------------------------------------


def _checkpoint_path(config: VisualEncoderConfig) -> Path:
    if config.checkpoint is None:
        raise ValueError(
            f"visual encoder kind {config.kind!r} needs a local checkpoint: set config.checkpoint"
        )
    path = Path(config.checkpoint).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"visual encoder checkpoint not found: {path}")
    return path


def convert_videomae_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an original VideoMAE / VideoMAE V2 state dict to transformers' `VideoMAEModel` names.

    Decoder, classification head, `fc_norm` (used only after mean pooling) and `pos_embed` (a plain tensor in
    transformers, set separately) are left out. The fused `qkv` weight is split into query/key/value.
    """
    if any(k.startswith("encoder.") for k in state):  # pre-training checkpoints nest the encoder
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    out = {}
    for key, value in state.items():
        if key.startswith("patch_embed.proj."):
            out["embeddings.patch_embeddings.projection." + key.split(".")[-1]] = value
        elif key in ("norm.weight", "norm.bias"):
            out["layernorm." + key.split(".")[-1]] = value
        elif key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            out.update(_convert_block_key(f"encoder.layer.{index}.", rest, value))
    return out


_BLOCK_NAMES = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "attn.proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "attn.q_bias": "attention.attention.query.bias",
    "attn.v_bias": "attention.attention.value.bias",
}


def _convert_block_key(prefix: str, rest: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    attention = prefix + "attention.attention."
    if rest == "attn.qkv.weight":
        q, k, v = value.chunk(3, dim=0)
        return {attention + "query.weight": q, attention + "key.weight": k, attention + "value.weight": v}
    if rest == "attn.qkv.bias":
        # A key bias adds the same score to every key of a query, which softmax ignores: dropping it is exact.
        q, _, v = value.chunk(3, dim=0)
        return {attention + "query.bias": q, attention + "value.bias": v}
    name, _, leaf = rest.rpartition(".")
    if rest in _BLOCK_NAMES:
        return {prefix + _BLOCK_NAMES[rest]: value}
    if name in _BLOCK_NAMES:
        return {prefix + _BLOCK_NAMES[name] + "." + leaf: value}
    raise ValueError(f"unexpected VideoMAE block parameter {rest!r}")


def _videomae_from_state_dict(path: Path, config: VisualEncoderConfig) -> VideoMAEModel:
    state = read_state_dict(path)
    converted = convert_videomae_state_dict(state)
    if "embeddings.patch_embeddings.projection.weight" not in converted:
        raise ValueError(f"{path} does not look like a VideoMAE checkpoint (no patch_embed.proj.weight)")
    dim, channels, tubelet, patch, _ = converted["embeddings.patch_embeddings.projection.weight"].shape
    depth = 1 + max(int(k.split(".")[2]) for k in converted if k.startswith("encoder.layer."))
    model_config = VideoMAEConfig(
        image_size=config.image_size,
        patch_size=patch,
        num_channels=channels,
        num_frames=config.clip_frames,
        tubelet_size=tubelet,
        hidden_size=dim,
        num_hidden_layers=depth,
        num_attention_heads=config.heads,
        intermediate_size=converted["encoder.layer.0.intermediate.dense.weight"].shape[0],
        layer_norm_eps=LAYER_NORM_EPS,  # the original code uses LayerNorm(eps=1e-6)
        qv_bias="encoder.layer.0.attention.attention.query.bias" in converted,
        use_mean_pooling="layernorm.weight" not in converted,
    )
    model = VideoMAEModel(model_config)
    try:
        model.load_state_dict(converted, strict=True)
    except RuntimeError as error:
        raise ValueError(f"cannot load VideoMAE weights from {path}: {error}") from error
    pos = state.get("pos_embed", state.get("encoder.pos_embed"))
    if pos is not None:  # learned positions replace the fixed sin-cos table
        if pos.shape[-2:] != model.embeddings.position_embeddings.shape[-2:]:
            raise ValueError(
                f"pos_embed of {path} has shape {tuple(pos.shape)}, which does not fit the config"
            )
        model.embeddings.position_embeddings = pos.reshape(1, *pos.shape[-2:]).float()
    return model


def load_videomae(config: VisualEncoderConfig) -> VideoMAEModel:
    """Load a VideoMAE / VideoMAE V2 backbone from a transformers directory or an original state dict file."""
    path = _checkpoint_path(config)
    if path.is_dir():
        return VideoMAEModel.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    return _videomae_from_state_dict(path, config)


def _freeze(encoder: VisualEncoder) -> VisualEncoder:
    encoder.requires_grad_(False)
    return encoder.eval()


def build_visual_encoder(config: VisualEncoderConfig) -> VisualEncoder:
    """Build the encoder `config` names; pre-trained kinds are loaded from local files and frozen.

    Raises:
        ValueError: A pre-trained kind without a checkpoint, or a checkpoint that does not fit the config.
        FileNotFoundError: A checkpoint path that does not exist.
    """
    if config.kind == "scratch":
        return ScratchVisualEncoder(config)
    if config.kind == "clip":
        path = _checkpoint_path(config)
        model = CLIPVisionModel.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        return _freeze(ClipVisualEncoder(config, model))
    return _freeze(VideoMAEVisualEncoder(config, load_videomae(config)))
