import pytest
import torch

from training.layers.rope import RotaryEmbedding, apply_rope


@pytest.mark.parametrize("n", [1, 7, 33])
def test_tables_shape_and_dtype(n):
    rope = RotaryEmbedding(16)
    cos, sin = rope(torch.zeros(2, n, 3))
    assert cos.shape == sin.shape == (n, 16)
    assert cos.dtype == torch.float32
    torch.testing.assert_close(cos[0], torch.ones(16))  # position 0 is the identity
    torch.testing.assert_close(sin[0], torch.zeros(16))


def test_odd_head_dim_is_refused():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(15)


def test_rotation_preserves_norm_and_is_relative():
    g = torch.Generator().manual_seed(0)
    rope = RotaryEmbedding(8)
    cos, sin = rope(torch.zeros(1, 50))
    q = torch.randn(1, 1, 1, 8, generator=g)
    k = torch.randn(1, 1, 1, 8, generator=g)
    qs = apply_rope(q.expand(1, 1, 50, 8), cos, sin)
    ks = apply_rope(k.expand(1, 1, 50, 8), cos, sin)
    torch.testing.assert_close(qs.norm(dim=-1), q.norm(dim=-1).expand(1, 1, 50), rtol=1e-5, atol=1e-5)
    # <q at i, k at j> depends only on i - j.
    dots = (qs[0, 0, :, None, :] * ks[0, 0, None, :, :]).sum(-1)
    torch.testing.assert_close(dots[10, 3], dots[40, 33], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dots[3, 10], dots[30, 37], rtol=1e-4, atol=1e-4)


def test_longer_than_ever_seen_extends_consistently():
    rope = RotaryEmbedding(8)
    short_cos, short_sin = rope(torch.zeros(1, 16))
    long_cos, long_sin = rope(torch.zeros(1, 5000))  # no fixed maximum length
    assert torch.isfinite(long_cos).all() and torch.isfinite(long_sin).all()
    torch.testing.assert_close(long_cos[:16], short_cos)
    torch.testing.assert_close(long_sin[:16], short_sin)


def test_apply_rope_keeps_dtype():
    rope = RotaryEmbedding(4)
    cos, sin = rope(torch.zeros(1, 3))
    x = torch.randn(1, 2, 3, 4).to(torch.bfloat16)
    assert apply_rope(x, cos, sin).dtype == torch.bfloat16
