"""Writing one graph to ONNX, and reading back what the manifest records about it.

The exporter is chosen explicitly: TorchScript tracing, `torch.onnx.export(..., dynamo=False)`. The models
are plain feed-forward code whose only data-dependent sizes are tensor shapes, which tracing records as
graph operations when the axes are declared dynamic; the dynamo exporter needs `onnxscript`, which the
project does not otherwise depend on. The choice is written into every manifest (`EXPORTER`).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import onnx
import torch

from export.graphs import GraphDef
from muvi_plugin.manifest import GraphSpec, TensorSpec

OPSET = 17  # LayerNormalization is a single op from 17 on; ORT's CPU and CUDA providers fuse it
EXPORTER = "torch.onnx.export(dynamo=False)"

_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.BOOL: "bool",
}


def export_graph(graph: GraphDef, path: str | Path, *, opset: int = OPSET) -> Path:
    """Trace `graph.module` on `graph.trace_inputs` and write the ONNX model to `path`.

    Returns:
        `path`, holding a model whose inputs and outputs carry `graph`'s names and dynamic axes.
    """
    path = Path(path)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; it is the documented choice here.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            graph.module,
            graph.trace_inputs,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            dynamic_axes={name: dict(axes) for name, axes in graph.dynamic_axes.items()},
            do_constant_folding=True,
        )
        traced = graph.module(*graph.trace_inputs)
    model = onnx.load(str(path))
    found = tuple(i.name for i in model.graph.input)
    if found != graph.input_names:
        raise RuntimeError(f"{graph.name}: exported inputs {found}, expected {graph.input_names}")
    _name_output_dims(model, graph, traced if isinstance(traced, tuple) else (traced,))
    onnx.save(model, str(path))
    return path


def _name_output_dims(model: onnx.ModelProto, graph: GraphDef, traced: tuple[torch.Tensor, ...]) -> None:
    """Give every output axis its declared name, or its traced size where it is not dynamic.

    The tracer names output axes it cannot relate to an input (e.g. `Slicelatent_dim_0`) even where the
    size is fixed; the manifest should say 1 or C there.
    """
    for value, tensor in zip(model.graph.output, traced, strict=True):
        axes = graph.dynamic_axes.get(value.name, {})
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis in axes:
                dim.dim_param = axes[axis]
            else:
                dim.dim_value = tensor.shape[axis]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def graph_spec(path: str | Path) -> GraphSpec:
    """The manifest entry of an ONNX file: its name, checksum and typed inputs and outputs."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    return GraphSpec(
        file=path.name,
        sha256=sha256_file(path),
        inputs=tuple(_tensor_spec(v) for v in model.graph.input),
        outputs=tuple(_tensor_spec(v) for v in model.graph.output),
    )


def _tensor_spec(value: onnx.ValueInfoProto) -> TensorSpec:
    tensor_type = value.type.tensor_type
    if tensor_type.elem_type not in _DTYPES:
        raise ValueError(f"graph I/O {value.name!r} has unsupported element type {tensor_type.elem_type}")
    shape = tuple(d.dim_param or d.dim_value for d in tensor_type.shape.dim)
    return TensorSpec(name=value.name, dtype=_DTYPES[tensor_type.elem_type], shape=shape)
