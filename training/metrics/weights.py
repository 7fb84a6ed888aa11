"""Reading the pre-trained weights of the evaluation networks (VGGish, PANNs) from local files.

Nothing is downloaded: the user passes a path. A metric asked for without one raises `WeightsMissing`,
which `muvi-eval` reports as "not computed: no weights given" instead of inventing a number. A file whose
tensor names or shapes are not the expected layout is refused with an error naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.layers.vit import read_state_dict

# How many names an error message lists before it says "and N more".
_LISTED = 6


def _numpy_globals() -> list:
    """What `weights_only` loading needs to rebuild numpy arrays and scalars, which only hold data.

    Published files were pickled by numpy 1.x, which names its internals `numpy.core`; numpy 2 renamed
    them `numpy._core`, so both names are allowed.
    """
    core = np._core.multiarray
    dtypes = [np.dtypes.Float16DType, np.dtypes.Float32DType, np.dtypes.Float64DType, np.dtypes.Int64DType]
    return [
        core._reconstruct,
        core.scalar,
        (core._reconstruct, "numpy.core.multiarray._reconstruct"),
        (core.scalar, "numpy.core.multiarray.scalar"),
        np.ndarray,
        np.dtype,
        *dtypes,
    ]


class WeightsMissing(RuntimeError):
    """A metric needs pre-trained weights and no path was given.

    Attributes:
        metric: The metric that was not computed ("FAD", "FD", ...).
        network: The network whose weights are missing ("VGGish", "PANNs CNN14").
    """

    def __init__(self, metric: str, network: str) -> None:
        super().__init__(f"{metric} not computed: no {network} weights given")
        self.metric = metric
        self.network = network

    def __reduce__(self):
        return type(self), (self.metric, self.network)


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a local state dict (`model`/`state_dict` wrappers and `module.` prefixes removed).

    Raises:
        FileNotFoundError: `path` is not a file.
        ValueError: The file is not a readable torch or safetensors file, or holds no tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return read_state_dict(path)
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path}: not a readable weights file ({error})") from error


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of a local `.npz` file or torch file (tensors and numpy arrays alike), as float64.

    Raises:
        FileNotFoundError: `path` is not a file.
        ValueError: The file cannot be read or holds no arrays.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                raw = {name: data[name] for name in data.files}
        else:
            with torch.serialization.safe_globals(_numpy_globals()):
                raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: not a readable weights file ({error})") from error
    arrays = {
        str(name): (value.numpy() if isinstance(value, torch.Tensor) else value).astype(np.float64)
        for name, value in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(value, torch.Tensor | np.ndarray)
    }
    if not arrays:
        raise ValueError(f"{path}: no arrays found")
    return arrays


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def load_exactly(model: nn.Module, state: dict[str, torch.Tensor], *, path: Path, layout: str) -> None:
    """Load `state` into `model`, refusing any missing, unexpected or mis-shaped tensor.

    Args:
        model: The network to fill.
        state: Name -> tensor, already stripped of the keys the caller handles itself.
        path: The file the tensors came from, named in the error.
        layout: What the file should hold, e.g. "VGGish weights in the torchvggish layout".

    Raises:
        ValueError: The names or shapes do not match the model; the message lists what differs.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [
        f"{name} {tuple(state[name].shape)} (expected {tuple(expected[name].shape)})"
        for name in sorted(set(state) & set(expected))
        if state[name].shape != expected[name].shape
    ]
    problems = [
        f"{label}: {_listed(names)}"
        for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped))
        if names
    ]
    if problems:
        raise ValueError(f"{path}: not {layout} ({'; '.join(problems)})")
    model.load_state_dict(state, strict=True)
