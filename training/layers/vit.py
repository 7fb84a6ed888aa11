"""A plain ViT whose parameter names follow timm, and a reader for checkpoints in that layout.

AudioMAE (and the original VideoMAE / VideoMAE V2 code) publish timm-style state dicts: `patch_embed.proj`,
`cls_token`, `pos_embed`, `blocks.{i}.norm1`, `blocks.{i}.attn.qkv`, `blocks.{i}.attn.proj`,
`blocks.{i}.norm2`, `blocks.{i}.mlp.fc1`, `blocks.{i}.mlp.fc2`, `norm`. Naming the modules the same way lets
`load_state_dict` read those checkpoints without a key-conversion table.

Shapes: `b` batch, `c` input channels, `H W` input size, `n` tokens, `d` width.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# timm's ViT and AudioMAE build their LayerNorms with eps=1e-6.
LAYER_NORM_EPS = 1e-6

_WRAPPER_KEYS = ("model", "module", "state_dict")
_WRAPPER_PREFIXES = ("module.", "model.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a local `.pth`/`.pt`/`.bin`/`.safetensors` state dict, unwrapping training-script wrappers.

    Official checkpoints often store the weights under a `model`/`module`/`state_dict` key, and DDP or
    EMA wrappers add a `module.`/`model.` prefix to every name: both are removed here.

    Args:
        path: The checkpoint file; it must exist locally (nothing is downloaded).

    Returns:
        Parameter name -> tensor, with wrapper prefixes stripped.

    Raises:
        FileNotFoundError: If `path` is not an existing file.
        ValueError: If the file holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = dict(load_file(str(path)))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in _WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"no tensors found in checkpoint {path}")
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k.removeprefix(prefix): v for k, v in tensors.items()}
    return tensors


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens: (b, c, H, W) -> (b, n, d), row-major over the patch grid."""

    def __init__(self, *, in_channels: int, dim: int, patch_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm layout)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (b, heads, n, d / heads)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two-layer GELU MLP (timm layout)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm layout)."""

    def __init__(self, *, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """A ViT over a fixed input size with a CLS token and learned absolute positions (timm layout).

    Args:
        input_size: (H, W) of the input; both must be multiples of `patch_size`.
        in_channels: Input channels (1 for a spectrogram).
        patch_size: Square patch side.
        dim: Token width.
        depth: Number of blocks.
        heads: Attention heads.
        mlp_ratio: MLP hidden width / `dim`.
        final_norm: Whether a LayerNorm `norm` follows the last block (checkpoints fine-tuned with global
            pooling drop it).
    """

    def __init__(
        self,
        *,
        input_size: tuple[int, int],
        in_channels: int,
        patch_size: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        final_norm: bool = True,
    ):
        super().__init__()
        if input_size[0] % patch_size or input_size[1] % patch_size:
            raise ValueError(f"input size {input_size} is not a multiple of the patch size {patch_size}")
        self.input_size = tuple(input_size)
        self.grid = (input_size[0] // patch_size, input_size[1] // patch_size)
        self.patch_embed = PatchEmbed(in_channels=in_channels, dim=dim, patch_size=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(Block(dim=dim, heads=heads, mlp_ratio=mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS) if final_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode (b, c, H, W) to tokens (b, 1 + gh * gw, d); token 0 is the CLS token."""
        tokens = self.patch_embed(x)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
