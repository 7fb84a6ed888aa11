"""The fp16 variant of a graph, for the CUDA provider: weights and matmuls in fp16, everything else fp32.

Method: an allow list, the rule of `torch.autocast`. Only the ops that carry weights and do the arithmetic
that tensor cores speed up — `MatMul`, `Gemm`, `Conv`, `ConvTranspose` — run in fp16, with their weights
stored in fp16 (about half the file). Every other op keeps its fp32 inputs and outputs: the norms (RMSNorm's
ReduceMean/Sqrt, GroupNorm's InstanceNormalization, LayerNormalization), softmax, and also arithmetic that
fp16 would ruin although it is no norm: the DiT's time sinusoids take `t * 1000` (fp16 steps by 0.5 there,
a phase error of a quarter turn), RoPE's angles grow with the position, and the adaptor's resampling computes
frame indices. Graph inputs and outputs stay float32, so the runtime feeds both variants the same way; the
ODE update stays in the runtime's numpy, in fp32.

Why not onnxconverter-common's `convert_float_to_float16(keep_io_types=True, node_block_list=...)`: it
converts everything that is not blocked, so keeping the sinusoids, RoPE and the resampling in fp32 would take
a block list of node names that follows every change to the models; the allow list needs none, and it is a
few lines with `onnx` alone.

A Cast to fp16 is inserted in front of each converted op (one per tensor, shared by its consumers) and a
Cast back to fp32 after it; where a converted op feeds another directly, the pair is skipped.

ONNX Runtime's CPU provider runs these graphs, but on x86 it has no fp16 MatMul/Conv kernels: it casts the
weights back to fp32 and computes in fp32, so a CPU run checks the graph and the weight rounding, and the
fp16 arithmetic itself is exercised by the CUDA provider only (see `export.verify.FP16_TOLERANCE`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

FP16_OPS = frozenset({"MatMul", "Gemm", "Conv", "ConvTranspose"})
_FP16_MAX = float(np.finfo(np.float16).max)


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the fp32 `model` whose `FP16_OPS` compute in fp16 on fp16 weights (see the module doc).

    Raises:
        ValueError: The model already holds fp16 tensors, or a weight does not fit fp16's range.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer):
        raise ValueError("the model already holds fp16 weights; convert the fp32 export")
    initializers = {t.name: t for t in graph.initializer}
    half_weights: dict[str, str] = {}  # fp32 initializer -> its fp16 copy
    half_casts: dict[str, str] = {}  # fp32 activation -> the output of its Cast to fp16
    half_source: dict[str, str] = {}  # fp32 output of a converted op -> the op's fp16 output
    nodes: list[onnx.NodeProto] = []

    for node in graph.node:
        if node.op_type not in FP16_OPS:
            nodes.append(node)
            continue
        for i, name in enumerate(node.input):
            if not name:
                continue
            if name in initializers:
                node.input[i] = half_weights.get(name) or _half_weight(
                    graph, initializers[name], half_weights
                )
            elif name in half_source:
                node.input[i] = half_source[name]
            else:
                if name not in half_casts:
                    half_casts[name] = f"{name}/fp16"
                    nodes.append(
                        _cast(name, half_casts[name], onnx.TensorProto.FLOAT16, f"{node.name}/to_fp16_{i}")
                    )
                node.input[i] = half_casts[name]
        nodes.append(node)
        for j, name in enumerate(node.output):
            node.output[j] = half_source[name] = f"{name}/fp16"
            nodes.append(_cast(node.output[j], name, onnx.TensorProto.FLOAT, f"{node.name}/to_fp32_{j}"))

    del graph.node[:]
    graph.node.extend(_without_dead_casts(nodes, {o.name for o in graph.output}))
    used = {name for n in graph.node for name in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    produced = {name for n in graph.node for name in n.output}
    infos = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    return out


def _half_weight(graph: onnx.GraphProto, tensor: onnx.TensorProto, cache: dict[str, str]) -> str:
    array = numpy_helper.to_array(tensor)
    if array.dtype != np.float32:
        raise ValueError(f"weight {tensor.name!r} is {array.dtype}, expected float32")
    if np.abs(array).max(initial=0.0) > _FP16_MAX:
        raise ValueError(f"weight {tensor.name!r} exceeds fp16's range ({_FP16_MAX})")
    name = f"{tensor.name}/fp16"
    graph.initializer.append(numpy_helper.from_array(array.astype(np.float16), name))
    cache[tensor.name] = name
    return name


def _cast(src: str, dst: str, to: int, name: str) -> onnx.NodeProto:
    return helper.make_node("Cast", [src], [dst], name=name, to=to)


def _without_dead_casts(nodes: list[onnx.NodeProto], graph_outputs: set[str]) -> list[onnx.NodeProto]:
    """Drop the Casts back to fp32 whose output only converted ops read (they now read the fp16 value)."""
    read = {name for n in nodes for name in n.input} | graph_outputs
    return [n for n in nodes if n.op_type != "Cast" or n.output[0] in read]
