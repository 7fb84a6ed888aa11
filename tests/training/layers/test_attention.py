import pytest
import torch

from training.layers.attention import SelfAttention
from training.layers.rope import RotaryEmbedding


def _attn(width=32, heads=4, seed=0):
    torch.manual_seed(seed)
    return SelfAttention(width, heads).eval(), RotaryEmbedding(width // heads)


@pytest.mark.parametrize("n", [1, 5, 16, 23])
def test_shapes(n):
    attn, rope = _attn()
    x = torch.randn(3, n, 32)
    cos, sin = rope(x)
    assert attn(x, cos, sin).shape == (3, n, 32)


def test_width_must_divide_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        SelfAttention(30, 4)


def test_padded_frames_do_not_change_valid_frames():
    attn, rope = _attn()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 12, 32, generator=g)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 9:] = False
    mask[1, 4:] = False
    cos, sin = rope(x)
    y = attn(x, cos, sin, mask)
    x2 = x.clone()
    x2[~mask] = torch.randn(int((~mask).sum()), 32, generator=g) * 100.0
    y2 = attn(x2, cos, sin, mask)
    torch.testing.assert_close(y[mask], y2[mask], rtol=1e-5, atol=1e-5)
    # And the masked batch gives what the unpadded item alone gives.
    y_alone = attn(x[1:2, :4], *rope(x[1:2, :4]))
    torch.testing.assert_close(y[1, :4], y_alone[0], rtol=1e-5, atol=1e-5)
    # Without the mask, the padding does change the valid frames.
    assert not torch.allclose(attn(x, cos, sin)[mask], attn(x2, cos, sin)[mask], atol=1e-3)


def test_attention_is_permutation_sensitive_through_rope():
    attn, rope = _attn()
    x = torch.randn(1, 6, 32)
    cos, sin = rope(x)
    y = attn(x, cos, sin)
    y_rev = attn(x.flip(1), cos, sin).flip(1)
    assert not torch.allclose(y, y_rev, atol=1e-4)  # positions matter


def test_runs_under_bf16_autocast():
    attn, rope = _attn()
    x = torch.randn(2, 9, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attn(x, *rope(x), torch.ones(2, 9, dtype=torch.bool))
    assert y.shape == (2, 9, 32)
    assert torch.isfinite(y.float()).all()
