"""Audio encoder for contrastive music-visual pre-training (MuVi Sec. 3.2, App. B-C).

Waveform -> Kaldi-style log-mel fbank -> backbone -> features averaged over frequency -> resampled to the
video frame rate -> a learnable head, giving one vector per video frame that is compared frame by frame
with the visual adaptor's output. Backbones: `audiomae`, a frozen AudioMAE ViT-B/16 loaded from a local
state dict in its official (timm) layout, run on 10.24 s windows stitched back as in MuVi App. C; and
`scratch`, a small trainable conv encoder for the embedded model (no AudioMAE weights are reachable here).

Shapes: `b` batch, `s` samples, `f` fbank frames (100 per second), `m` mel bins, `k` windows stacked on
the batch axis, `n` video frames, `d` backbone width, `e` output width.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from muvi_plugin.constants import SAMPLE_RATE
from training.layers.vit import VisionTransformer, read_state_dict
from training.models.visual_encoder import split_into_clips, stitch_clips

KINDS = ("audiomae", "scratch")
_AUDIOMAE_KEYS = ("patch_embed.", "blocks.", "norm.")
_AUDIOMAE_TENSORS = ("cls_token", "pos_embed")


@dataclass(frozen=True)
class AudioEncoderConfig:
    """Audio encoder: fbank front end, backbone and head.

    Args:
        kind: "audiomae" (frozen pre-trained ViT) or "scratch" (small, trainable).
        checkpoint: AudioMAE only: local `.pth`/`.bin`/`.safetensors` state dict (timm key names).
        out_dim: Head output width; equals the visual adaptor width so the two compare frame by frame.
        sample_rate: Input sample rate.
        n_mels: Mel bins (AudioMAE: 128).
        hop_ms: Fbank hop (AudioMAE: 10 ms).
        win_ms: Fbank window (AudioMAE: 25 ms).
        f_min: Lowest mel edge (Kaldi default 20 Hz).
        f_max: Highest mel edge: 8 kHz, the Nyquist frequency of AudioMAE's 16 kHz input.
        preemphasis: Kaldi pre-emphasis coefficient.
        reference_rate: The rate AudioMAE's fbank was computed at; energies are rescaled to it.
        fbank_mean: AudioMAE's AudioSet normalisation mean.
        fbank_std: AudioMAE's AudioSet normalisation std (features are divided by twice it).
        window_frames: AudioMAE only: fbank frames per window (1024 = 10.24 s).
        patch_size: AudioMAE only: square patch side.
        dim: Backbone width `d`.
        depth: Transformer blocks (AudioMAE) or temporal conv blocks (scratch).
        heads: AudioMAE only: attention heads.
        mlp_ratio: AudioMAE only: MLP width / `dim`.
    """

    kind: str = "scratch"
    checkpoint: str | None = None
    out_dim: int = 256
    sample_rate: int = SAMPLE_RATE
    n_mels: int = 128
    hop_ms: float = 10.0
    win_ms: float = 25.0
    f_min: float = 20.0
    f_max: float = 8000.0
    preemphasis: float = 0.97
    reference_rate: int = 16_000
    fbank_mean: float = -4.2677393
    fbank_std: float = 4.5689974
    window_frames: int = 1024
    patch_size: int = 16
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown audio encoder kind {self.kind!r}; expected one of {KINDS}")
        for name, ms in (("hop_ms", self.hop_ms), ("win_ms", self.win_ms)):
            if not float(self.sample_rate * ms / 1000).is_integer():
                raise ValueError(f"{name}={ms} is not a whole number of samples at {self.sample_rate} Hz")
        if self.win_samples < self.hop_samples or (self.win_samples - self.hop_samples) % 2:
            raise ValueError("the window must be at least the hop, with an even difference (centred frames)")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= {self.sample_rate / 2}, got {self.f_min}, {self.f_max}"
            )
        if min(self.out_dim, self.n_mels, self.dim, self.depth) < 1:
            raise ValueError("out_dim, n_mels, dim and depth must be positive")
        if self.kind == "audiomae":
            if self.window_frames % self.patch_size or self.n_mels % self.patch_size:
                raise ValueError(
                    f"window_frames {self.window_frames} and n_mels {self.n_mels} must be multiples of "
                    f"patch_size {self.patch_size}"
                )
            if self.dim % self.heads:
                raise ValueError(f"dim {self.dim} is not divisible by {self.heads} heads")

    @property
    def hop_samples(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def win_samples(self) -> int:
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def n_fft(self) -> int:
        """Kaldi zero-pads each frame to the next power of two."""
        return 1 << (self.win_samples - 1).bit_length()

    @property
    def power_scale(self) -> float:
        """Factor bringing mel energies to what Kaldi computes at `reference_rate`.

        A mel band's energy grows with sample rate x FFT size (the window holds more samples, each band
        spans more bins): at 24 kHz (600-sample window, 1024-point FFT) it is 3x that at 16 kHz (400, 512).
        """
        ref_win = round(self.reference_rate * self.win_ms / 1000)
        ref_fft = 1 << (ref_win - 1).bit_length()
        return (self.reference_rate * ref_fft) / (self.sample_rate * self.n_fft)

    @property
    def window_samples(self) -> int:
        return self.window_frames * self.hop_samples

    @property
    def trainable_backbone(self) -> bool:
        """MuVi App. B: only the head of the pre-trained audio encoder learns."""
        return self.kind == "scratch"


DEBUG = AudioEncoderConfig(kind="scratch", out_dim=64, dim=32, depth=1)
DEMO = AudioEncoderConfig(kind="scratch", out_dim=256, dim=128, depth=2)
# AudioMAE ViT-B/16; out_dim follows the adaptor (= DiT) width of each size.
BASE = AudioEncoderConfig(kind="audiomae", out_dim=1024, dim=768, depth=12, heads=12)
SMALL = AudioEncoderConfig(kind="audiomae", out_dim=768, dim=768, depth=12, heads=12)
LARGE = AudioEncoderConfig(kind="audiomae", out_dim=1280, dim=768, depth=12, heads=12)
PRESETS: dict[str, AudioEncoderConfig] = {
    "debug": DEBUG,
    "demo": DEMO,
    "small": SMALL,
    "base": BASE,
    "large": LARGE,
}


def _mel(freq: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(freq / 700.0)


def kaldi_mel_banks(config: AudioEncoderConfig) -> torch.Tensor:
    """Kaldi's triangular mel filters (triangles in the mel domain), (n_fft / 2 + 1, m)."""
    n_bins = config.n_fft // 2
    mel_low = _mel(torch.tensor(config.f_min, dtype=torch.float64))
    mel_high = _mel(torch.tensor(config.f_max, dtype=torch.float64))
    delta = (mel_high - mel_low) / (config.n_mels + 1)
    edges = mel_low + delta * torch.arange(config.n_mels + 2, dtype=torch.float64)  # left, centre, right
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    mel = _mel(torch.arange(n_bins, dtype=torch.float64) * config.sample_rate / config.n_fft)[None]
    banks = torch.minimum((mel - left) / (centre - left), (right - mel) / (right - centre)).clamp(min=0)
    return F.pad(banks, (0, 1)).T.float()  # the Nyquist bin gets no weight, as in Kaldi


class KaldiFbank(nn.Module):
    """Kaldi-compatible log-mel fbank, as AudioMAE computes it, written in plain torch (no torchaudio here).

    Per frame: remove the DC offset, pre-emphasise, Hann window (AudioMAE's `window_type="hanning"`),
    zero-pad to a power of two, power spectrum, Kaldi mel banks, log with a float-epsilon floor; no dither.
    The DFT is a real matrix product so no complex tensors appear.

    Differences from AudioMAE's 16 kHz front end: the audio stays at 24 kHz with the mel range capped at
    8 kHz, so the same 128 bands are measured with a finer FFT (23.4 Hz vs 31.25 Hz bins); the energy scale
    is matched through `power_scale`, but the 0.97 pre-emphasis tilts the spectrum differently per sample
    rate (1 to 3.5 dB less energy at 24 kHz, most from 0.5 to 4 kHz). Frames are centred, so 1 s gives
    exactly 100 frames where Kaldi's `snip_edges` gives 98.
    """

    def __init__(self, config: AudioEncoderConfig):
        super().__init__()
        self.config = config
        win, n_fft = config.win_samples, config.n_fft
        angle = 2 * math.pi * torch.outer(torch.arange(win), torch.arange(n_fft // 2 + 1)).double() / n_fft
        self.register_buffer("cos", angle.cos().float(), persistent=False)
        self.register_buffer("sin", angle.sin().float(), persistent=False)
        self.register_buffer("window", torch.hann_window(win, periodic=False), persistent=False)
        self.register_buffer("mel_banks", kaldi_mel_banks(config) * config.power_scale, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(b, s) -> (b, f, m) with f = s // hop; frame i is centred on samples [i * hop, (i + 1) * hop)."""
        hop, win = self.config.hop_samples, self.config.win_samples
        side = (win - hop) // 2
        frames = F.pad(waveform, (side, side)).unfold(-1, win, hop)  # (b, f, win)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = (frames - self.config.preemphasis * previous) * self.window
        power = (frames @ self.cos) ** 2 + (frames @ self.sin) ** 2
        return torch.log((power @ self.mel_banks).clamp(min=torch.finfo(torch.float32).eps))


class _ScratchBackbone(nn.Module):
    """Conv encoder: three stride-2 2D convs over (time, mel), mean over mel, residual temporal convs.

    (b, 1, f, m) -> (b, ceil(f / 8), d): 12.5 feature frames per second.
    """

    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, dim // 4, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(dim // 4, dim // 2, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(dim // 2, dim, 3, stride=2, padding=1),
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.GroupNorm(1, dim), nn.Conv1d(dim, dim, 5, padding=2), nn.GELU(), nn.Conv1d(dim, dim, 1)
            )
            for _ in range(depth)
        )

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        x = self.stem(fbank.unsqueeze(1)).mean(dim=-1)  # (b, d, f / 8)
        for block in self.blocks:
            x = x + block(x)
        return x.transpose(1, 2)


class AudioEncoder(nn.Module):
    """Waveform (b, s) at `sample_rate` -> per-video-frame features (b, n, e)."""

    def __init__(self, config: AudioEncoderConfig, backbone: nn.Module):
        super().__init__()
        self.config = config
        self.fbank = KaldiFbank(config)
        self.backbone = backbone
        # The learnable head of MuVi Sec. 3.2; the LayerNorm makes it indifferent to the backbone's scale.
        self.head = nn.Sequential(
            nn.LayerNorm(config.dim),
            nn.Linear(config.dim, config.out_dim),
            nn.GELU(),
            nn.Linear(config.out_dim, config.out_dim),
        )
        if not config.trainable_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> "AudioEncoder":
        super().train(mode)
        if not self.config.trainable_backbone:
            self.backbone.eval()  # a frozen backbone stays in eval mode
        return self

    def _normalised_fbank(self, waveform: torch.Tensor) -> torch.Tensor:
        return (self.fbank(waveform) - self.config.fbank_mean) / (2 * self.config.fbank_std)

    def _audiomae_features(self, waveform: torch.Tensor) -> torch.Tensor:
        """(b, s) -> (b, f, d): the token of every fbank frame, averaged over frequency."""
        cfg = self.config
        b, f = waveform.shape[0], waveform.shape[1] // cfg.hop_samples
        # Audio shorter than one window is padded with silence; its tokens are cropped below.
        waveform = F.pad(waveform, (0, max(0, cfg.window_samples - waveform.shape[1])))
        fbank = self._normalised_fbank(waveform)  # (b, f_padded, m)
        # MuVi App. C: full windows on the batch axis; the last one re-uses the last 10.24 s of audio.
        windows = split_into_clips(fbank, cfg.window_frames)  # (b * k, window, m)
        tokens = self.backbone(windows.unsqueeze(1))[:, 1:]  # drop CLS: (b * k, gt * gf, d)
        gt, gf = self.backbone.grid
        tokens = tokens.reshape(-1, gt, gf, cfg.dim).mean(dim=2)  # average over frequency
        # Every fbank frame takes its patch's token so windows can be stitched frame-exactly.
        per_frame = tokens.repeat_interleave(cfg.patch_size, dim=1)  # (b * k, window, d)
        return stitch_clips(per_frame, batch=b, t=fbank.shape[1], clip=cfg.window_frames)[:, :f]

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Backbone features averaged over frequency, (b, f', d), evenly spanning the waveform."""
        if waveform.dim() != 2:
            raise ValueError(f"expected a waveform (b, samples), got {tuple(waveform.shape)}")
        if waveform.shape[1] < self.config.hop_samples:
            raise ValueError(f"waveform of {waveform.shape[1]} samples is shorter than one fbank hop")
        if self.config.kind == "audiomae":
            return self._audiomae_features(waveform)
        return self.backbone(self._normalised_fbank(waveform))

    def forward(self, waveform: torch.Tensor, *, n_frames: int) -> torch.Tensor:
        """Encode audio to `n_frames` vectors (the video frame count at VIDEO_FPS).

        Args:
            waveform: (b, s) float audio at `config.sample_rate`, covering the same span as the video.
            n_frames: Video frames to align to.

        Returns:
            (b, n_frames, out_dim).
        """
        if n_frames < 1:
            raise ValueError(f"n_frames must be positive, got {n_frames}")
        feats = self.features(waveform)
        # Each video frame gets the average of the features inside its time span (area resampling).
        feats = F.interpolate(feats.transpose(1, 2), size=n_frames, mode="area").transpose(1, 2)
        return self.head(feats)


def load_audiomae(config: AudioEncoderConfig) -> VisionTransformer:
    """Build the AudioMAE ViT from a local state dict with the official key names.

    Decoder, mask token, classifier head and `fc_norm` are ignored; the final `norm` is kept when present
    (pre-training checkpoints) and left out otherwise (fine-tuned ones with global pooling).

    Raises:
        ValueError: No checkpoint configured, or weights that do not fit the config.
        FileNotFoundError: The checkpoint file does not exist.
    """
    if config.checkpoint is None:
        raise ValueError("audio encoder kind 'audiomae' needs a local checkpoint: set config.checkpoint")
    path = Path(config.checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"AudioMAE checkpoint not found: {path}")
    state = {
        key: value
        for key, value in read_state_dict(path).items()
        if key.startswith(_AUDIOMAE_KEYS) or key in _AUDIOMAE_TENSORS
    }
    model = VisionTransformer(
        input_size=(config.window_frames, config.n_mels),
        in_channels=1,
        patch_size=config.patch_size,
        dim=config.dim,
        depth=config.depth,
        heads=config.heads,
        mlp_ratio=config.mlp_ratio,
        final_norm="norm.weight" in state,
    )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"cannot load AudioMAE weights from {path}: {error}") from error
    return model


def build_audio_encoder(config: AudioEncoderConfig) -> AudioEncoder:
    """Build the audio encoder `config` names (AudioMAE weights from a local file, frozen)."""
    if config.kind == "audiomae":
        return AudioEncoder(config, load_audiomae(config))
    return AudioEncoder(config, _ScratchBackbone(config.dim, config.depth))
