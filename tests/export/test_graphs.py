"""Every graph of the debug model: exported, `onnx.checker`-valid, and equal to PyTorch under ONNX Runtime."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from export import graphs as g
from export.bundle import debug_parts
from export.onnx_io import graph_spec
from export.verify import FP32_TOLERANCE, VerificationError, compare_graph, verify_graphs
from muvi_plugin.manifest import GRAPH_NAMES
from training.models.adaptor import adaptor_config_for, build_adaptor
from training.models.visual_encoder import VisualEncoderConfig, build_visual_encoder

# The manifest's I/O table (muvi_plugin/manifest.py), for the debug model: names, dtypes, symbolic shapes.
EXPECTED_IO = {
    "encoder": ([("clips", "float32", ("k", 16, 3, 32, 32))], [("patches", "float32", ("k", 16, 4, 4, 32))]),
    "adaptor": (
        [("patches", "float32", (1, "t", 4, 4, 32)), ("n_out", "int64", ())],
        [("cond", "float32", (1, "n", 64))],
    ),
    "dit_condition": (
        [("cond", "float32", ("b", "n", 64)), ("drop", "bool", ("b", "n"))],
        [("c", "float32", ("b", "n", 64))],
    ),
    "dit_velocity": (
        [("x", "float32", ("b", "n", 8)), ("t", "float32", ("b", "n")), ("c", "float32", ("b", "n", 64))],
        [("v", "float32", ("b", "n", 8))],
    ),
    "vae_encoder": ([("mel", "float32", (1, 160, "T"))], [("latent", "float32", (1, 8, "n"))]),
    "vae_decoder": ([("latent", "float32", ("b", 8, "n"))], [("mel", "float32", ("b", 160, "T"))]),
    "vocoder": ([("mel", "float32", ("b", 160, "T"))], [("wave", "float32", ("b", "samples"))]),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[dict[str, g.GraphDef], Path]:
    """The debug model's graph definitions, each exported to `<folder>/<name>.onnx`."""
    from export.onnx_io import export_graph

    folder = tmp_path_factory.mktemp("graphs")
    defs = g.graph_defs(debug_parts(seed=0))
    for graph in defs.values():
        export_graph(graph, folder / f"{graph.name}.onnx")
    return defs, folder


def _spec_tuples(specs) -> list[tuple]:
    return [(s.name, s.dtype, s.shape) for s in specs]


@pytest.mark.parametrize("name", GRAPH_NAMES)
def test_graph_io_follows_the_manifest_table(exported, name):
    _, folder = exported
    spec = graph_spec(folder / f"{name}.onnx")
    inputs, outputs = EXPECTED_IO[name]
    assert _spec_tuples(spec.inputs) == inputs
    assert _spec_tuples(spec.outputs) == outputs
    assert onnx.load(str(folder / f"{name}.onnx")).opset_import[0].version == 17


@pytest.mark.parametrize("name", GRAPH_NAMES)
def test_onnx_runtime_matches_pytorch_on_untraced_lengths(exported, name):
    defs, folder = exported
    onnx.checker.check_model(str(folder / f"{name}.onnx"), full_check=True)
    report = compare_graph(defs[name], folder / f"{name}.onnx", tolerance=FP32_TOLERANCE)
    assert report.passed, report
    assert report.peak > 0.0  # the comparison saw real signal, not zeros
    # Verified on other sizes than the traced ones: odd ones, and one past the traced size on every
    # dynamic axis.
    graph = defs[name]
    for i, input_name in enumerate(graph.input_names):
        for axis in graph.dynamic_axes.get(input_name, {}):
            traced = graph.trace_inputs[i].shape[axis]
            sizes = [case[i].shape[axis] for case in graph.verify_inputs]
            assert max(sizes) > traced and any(s % 2 for s in sizes), (input_name, axis, traced, sizes)
    assert [tuple(x.shape) for x in graph.trace_inputs] not in [list(c) for c in report.cases]


def test_verify_graphs_reports_every_graph(exported):
    defs, folder = exported
    report = verify_graphs(defs, folder)
    assert set(report) == set(GRAPH_NAMES)
    for entry in report.values():
        assert entry["max_abs_error"] <= entry["atol"] + entry["rtol"] * entry["peak"]


def test_vocoder_export_leaves_the_trained_model_alone():
    parts = debug_parts(seed=0)
    graph = g.graph_defs(parts)["vocoder"]
    assert not any("parametrizations" in n for n, _ in graph.module.named_parameters())
    assert any("parametrizations" in n for n, _ in parts["vocoder"].named_parameters())
    mel = graph.verify_inputs[0][0]
    with torch.no_grad():
        np.testing.assert_allclose(graph.module(mel), parts["vocoder"](mel)[:, 0], rtol=1e-5, atol=1e-6)


def test_parts_that_do_not_fit_are_refused():
    parts = debug_parts(seed=0)
    with pytest.raises(ValueError, match="missing: vocoder"):
        g.graph_defs({k: v for k, v in parts.items() if k != "vocoder"})
    wide = build_adaptor(dataclasses.replace(parts["adaptor"].config, width=32))
    with pytest.raises(ValueError, match="adaptor width 32"):
        g.graph_defs({**parts, "adaptor": wide})


class _FrozenLength(nn.Module):
    """Scales by its input length as a Python float: tracing freezes it to the traced length."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float(x.shape[1])


def test_a_size_frozen_by_tracing_fails_verification(tmp_path):
    from export.onnx_io import export_graph

    graph = g.GraphDef(
        name="frozen",
        module=_FrozenLength(),
        input_names=("x",),
        output_names=("y",),
        dynamic_axes={"x": {1: "n"}, "y": {1: "n"}},
        trace_inputs=(torch.ones(1, 4),),
        verify_inputs=((torch.ones(1, 7),),),
    )
    path = export_graph(graph, tmp_path / "frozen.onnx")
    assert not compare_graph(graph, path, tolerance=FP32_TOLERANCE).passed
    with pytest.raises(VerificationError, match="frozen: max abs error"):
        verify_graphs({"frozen": graph}, tmp_path)


@pytest.mark.parametrize("mode", ["attention", "softmax"])
def test_clip_encoder_graphs_carry_the_cls_token(tmp_path, mode):
    """A CLS encoder: `encoder` outputs `cls`, and `adaptor` takes it even when its mode ignores it."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from export.onnx_io import export_graph

    torch.manual_seed(0)
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    CLIPVisionModel(vision).save_pretrained(tmp_path / "clip")
    config = VisualEncoderConfig(
        kind="clip",
        checkpoint=str(tmp_path / "clip"),
        image_size=32,
        patch_size=8,
        dim=32,
        heads=2,
        clip_frames=4,
    )
    encoder = build_visual_encoder(config)
    parts = {
        **debug_parts(seed=0),
        "visual_encoder": encoder,
        "adaptor": build_adaptor(adaptor_config_for(encoder, width=64, mode=mode)).eval(),
    }
    defs = g.graph_defs(parts)
    for name in ("encoder", "adaptor"):
        path = export_graph(defs[name], tmp_path / f"{name}.onnx")
        assert compare_graph(defs[name], path, tolerance=FP32_TOLERANCE).passed
    assert [s.name for s in graph_spec(tmp_path / "encoder.onnx").outputs] == ["patches", "cls"]
    assert _spec_tuples(graph_spec(tmp_path / "adaptor.onnx").inputs) == [
        ("patches", "float32", (1, "t", 4, 4, 32)),
        ("cls", "float32", (1, "t", 32)),
        ("n_out", "int64", ()),
    ]


def test_videomae_encoder_graph(tmp_path):
    """The pre-trained VideoMAE family (here a tiny random one) exports with a dynamic clip count too."""
    from transformers import VideoMAEConfig, VideoMAEModel

    from export.onnx_io import export_graph
    from training.models.visual_encoder import VideoMAEVisualEncoder

    torch.manual_seed(0)
    backbone = VideoMAEModel(
        VideoMAEConfig(
            image_size=32,
            patch_size=8,
            num_frames=4,
            tubelet_size=2,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    )
    config = VisualEncoderConfig(
        kind="videomae", checkpoint="tiny", image_size=32, patch_size=8, dim=32, heads=2, clip_frames=4
    )
    parts = {**debug_parts(seed=0), "visual_encoder": VideoMAEVisualEncoder(config, backbone)}
    graph = g.graph_defs(parts)["encoder"]
    path = export_graph(graph, tmp_path / "encoder.onnx")
    assert compare_graph(graph, path, tolerance=FP32_TOLERANCE).passed
