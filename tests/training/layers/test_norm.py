import torch

from training.layers.norm import RMSNorm


def test_rmsnorm_shape_and_unit_rms():
    torch.manual_seed(0)
    norm = RMSNorm(16)
    x = torch.randn(2, 7, 16) * 5.0
    y = norm(x)
    assert y.shape == x.shape
    rms = y.pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), atol=1e-4, rtol=0)


def test_rmsnorm_gain_scales_output():
    norm = RMSNorm(4)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, 0.0, -1.0]))
    x = torch.ones(1, 1, 4)
    torch.testing.assert_close(norm(x), torch.tensor([[[1.0, 2.0, 0.0, -1.0]]]), atol=1e-5, rtol=0)


def test_rmsnorm_keeps_input_dtype_and_computes_in_fp32():
    norm = RMSNorm(8)
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(1)) * 300.0
    y16 = norm(x.to(torch.bfloat16))
    assert y16.dtype == torch.bfloat16
    # Computed in fp32 then rounded once: within one bf16 rounding of the fp32 result.
    torch.testing.assert_close(y16.float(), norm(x.to(torch.bfloat16).float()), atol=0.0, rtol=2**-8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert norm(x).dtype == torch.float32  # an fp32 residual stream stays fp32 under autocast
