import pickle

import numpy as np
import pytest
import torch
from torch import nn

from training.metrics.weights import WeightsMissing, load_exactly, read_arrays, read_weights


def test_read_weights_unwraps_wrappers_and_prefixes(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {"module.fc.weight": torch.ones(2, 3), "module.fc.bias": torch.zeros(2)}}, path)
    state = read_weights(path)
    assert set(state) == {"fc.weight", "fc.bias"}
    model = nn.Sequential()
    model.fc = nn.Linear(3, 2)
    load_exactly(model, state, path=path, layout="a test layout")
    assert torch.equal(model.fc.weight, torch.ones(2, 3))


def test_read_arrays_reads_numpy_arrays_pickled_by_torch_and_npz(tmp_path):
    # torchvggish's PCA parameters are a torch file holding numpy arrays.
    eigen = np.arange(9.0).reshape(3, 3)
    torch.save({"pca_eigen_vectors": eigen, "pca_means": np.ones(3, dtype=np.float32)}, tmp_path / "pca.pth")
    arrays = read_arrays(tmp_path / "pca.pth")
    assert np.array_equal(arrays["pca_eigen_vectors"], eigen) and arrays["pca_means"].dtype == np.float64
    np.savez(tmp_path / "stats.npz", mu=np.zeros(4), sigma=np.eye(4))
    assert set(read_arrays(tmp_path / "stats.npz")) == {"mu", "sigma"}


def test_unreadable_or_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        read_weights(tmp_path / "absent.pth")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz: not a readable weights file"):
        read_arrays(tmp_path / "text.npz")
    torch.save({"step": 3}, tmp_path / "empty.pth")
    with pytest.raises(ValueError, match=r"empty\.pth: no arrays found"):
        read_arrays(tmp_path / "empty.pth")


def test_weights_missing_names_the_metric_and_survives_pickling():
    error = pickle.loads(pickle.dumps(WeightsMissing("FAD", "VGGish")))
    assert (error.metric, error.network) == ("FAD", "VGGish")
    assert str(error) == "FAD not computed: no VGGish weights given"
