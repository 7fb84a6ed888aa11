import torch

from training.layers.mlp import MLP


def test_mlp_shape_and_hidden_width():
    mlp = MLP(12, 48)
    assert mlp.fc_in.weight.shape == (48, 12)
    x = torch.randn(2, 5, 12)
    y = mlp(x)
    assert y.shape == (2, 5, 12)
    assert sum(p.numel() for p in mlp.parameters()) == 2 * 12 * 48  # no biases


def test_mlp_is_framewise():
    torch.manual_seed(0)
    mlp = MLP(8, 16)
    x = torch.randn(1, 6, 8)
    torch.testing.assert_close(mlp(x)[:, 2:3], mlp(x[:, 2:3]))
