"""The fp16 variant: weights and matmuls in fp16, norms, softmax and sinusoids in fp32, float32 I/O."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from export import graphs as g
from export.bundle import debug_parts, export_bundle
from export.fp16 import FP16_OPS, convert_to_fp16
from export.onnx_io import export_graph, graph_spec
from export.verify import FP16_TOLERANCE, compare_graph
from muvi_plugin.manifest import GRAPH_NAMES, read_manifest

F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
# Ops that must see fp32 inputs: the norms (GroupNorm exports as InstanceNormalization, RMSNorm as
# Pow/ReduceMean/Sqrt), softmax, and the time / RoPE sinusoids.
KEPT_FP32 = {"InstanceNormalization", "LayerNormalization", "ReduceMean", "Sqrt", "Softmax", "Cos", "Sin"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[dict[str, g.GraphDef], Path]:
    folder = tmp_path_factory.mktemp("fp16")
    defs = g.graph_defs(debug_parts(seed=0))
    for graph in defs.values():
        path = export_graph(graph, folder / f"{graph.name}.fp32.onnx")
        onnx.save(convert_to_fp16(onnx.load(str(path))), str(folder / f"{graph.name}.onnx"))
    return defs, folder


def _types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every named tensor, by ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in (*inferred.value_info, *inferred.input, *inferred.output)
    }
    types.update({t.name: t.data_type for t in inferred.initializer})
    return types


@pytest.mark.parametrize("name", GRAPH_NAMES)
def test_fp16_graph_keeps_float32_io_and_fp32_norms(converted, name):
    _, folder = converted
    model = onnx.load(str(folder / f"{name}.onnx"))
    onnx.checker.check_model(model, full_check=True)
    types = _types(model)
    fp32_spec = graph_spec(folder / f"{name}.fp32.onnx")
    spec = graph_spec(folder / f"{name}.onnx")
    assert (spec.inputs, spec.outputs) == (fp32_spec.inputs, fp32_spec.outputs)  # float32 I/O, same axes
    heavy = [n for n in model.graph.node if n.op_type in FP16_OPS]
    assert heavy, "every graph has matmuls or convolutions"
    assert all(types[i] == F16 for n in heavy for i in n.input if i)
    kept = [n for n in model.graph.node if n.op_type in KEPT_FP32]
    assert all(types[n.input[0]] == F32 for n in kept)
    assert all(t.data_type != F32 for t in model.graph.initializer if t.name.endswith("/fp16"))


def test_the_fp32_ops_checked_above_occur_in_the_graphs(converted):
    _, folder = converted
    ops = {n.op_type for name in GRAPH_NAMES for n in onnx.load(str(folder / f"{name}.onnx")).graph.node}
    assert ops >= KEPT_FP32


@pytest.mark.parametrize("name", GRAPH_NAMES)
def test_fp16_graph_runs_on_cpu_close_to_fp32_pytorch(converted, name):
    defs, folder = converted
    report = compare_graph(defs[name], folder / f"{name}.onnx", tolerance=FP16_TOLERANCE)
    assert report.passed, report
    assert report.max_abs_error > 0.0  # really rounded: fp16 weights cannot reproduce fp32 exactly


def test_fp16_halves_the_weights(converted):
    _, folder = converted
    for name in ("dit_velocity", "vae_decoder", "vocoder"):
        ratio = (folder / f"{name}.onnx").stat().st_size / (folder / f"{name}.fp32.onnx").stat().st_size
        assert ratio < 0.6, (name, ratio)


def test_converting_twice_is_refused(converted):
    _, folder = converted
    with pytest.raises(ValueError, match="already holds fp16"):
        convert_to_fp16(onnx.load(str(folder / "dit_velocity.onnx")))


def test_fp16_bundle(tmp_path):
    out = export_bundle(debug_parts(seed=0), tmp_path / "b16", name="t", provenance={}, precision="fp16")
    manifest = read_manifest(out)
    assert manifest.precision == "fp16" and manifest.bundle_id.startswith("t-fp16-")
    assert all(t.dtype != "float16" for s in manifest.graphs.values() for t in (*s.inputs, *s.outputs))
    report = manifest.provenance["verification"]
    assert all(r["rtol"] == FP16_TOLERANCE.rtol and r["max_abs_error"] > 0 for r in report.values())
