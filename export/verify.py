"""Verification of exported graphs: `onnx.checker`, then ONNX Runtime against PyTorch.

Every graph is run by ONNX Runtime (CPU provider) on the cases of its `GraphDef` — lengths other than the
traced one, odd ones, and one longer than the traced one — and compared with its PyTorch wrapper in fp32.
The error measure is the largest absolute difference over all outputs and cases; it must stay within
`atol + rtol * peak`, where `peak` is the largest absolute value of the reference (so the tolerance scales
with what a graph outputs: a mel in log units, a wave in [-1, 1]). The results go into the manifest's
provenance, so every bundle says how close it is to the model it came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from export.graphs import GraphDef


@dataclass(frozen=True)
class Tolerance:
    """Allowed error: `max |onnx - torch| <= atol + rtol * max |torch|`."""

    rtol: float
    atol: float


# fp32: both sides compute in fp32 and differ by summation order only (debug bundle: at most 2e-6 of the
# peak, the VAE decoder).
FP32_TOLERANCE = Tolerance(rtol=1e-4, atol=1e-5)
# fp16 against the fp32 model (debug bundle: at most 1.4e-3 of the peak on ONNX Runtime CPU, the VAE
# decoder). ORT's CPU provider has no fp16 MatMul/Conv kernels on x86: it casts the fp16 weights back to fp32
# and drops the activations' round trip through fp16, so on CPU this measures the rounding of the weights
# only. The CUDA provider computes in fp16 as well; a PyTorch emulation of that rounding of activations
# (inputs and outputs of every matmul/conv) stays under 2.5e-3 of the peak on the debug model.
FP16_TOLERANCE = Tolerance(rtol=2e-2, atol=1e-3)
TOLERANCES = {"fp32": FP32_TOLERANCE, "fp16": FP16_TOLERANCE}


class VerificationError(RuntimeError):
    """An exported graph is invalid or does not match its PyTorch model within tolerance."""


@dataclass(frozen=True)
class GraphReport:
    """How one graph compared: the largest absolute error, the reference's peak, the shapes it ran on."""

    max_abs_error: float
    peak: float
    rtol: float
    atol: float
    cases: tuple[tuple[tuple[int, ...], ...], ...]  # input shapes of each case

    @property
    def passed(self) -> bool:
        return self.max_abs_error <= self.atol + self.rtol * self.peak

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cases"] = [[list(shape) for shape in case] for case in self.cases]
        return d


def session(path: str | Path) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for `path`."""
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def compare_graph(graph: GraphDef, path: str | Path, *, tolerance: Tolerance) -> GraphReport:
    """Run `path` with ONNX Runtime and `graph.module` with PyTorch on every verification case."""
    sess = session(path)
    error, peak, shapes = 0.0, 0.0, []
    for inputs in graph.verify_inputs:
        with torch.no_grad():
            expected = graph.module(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        shapes.append(tuple(tuple(x.shape) for x in inputs))
        feed = {n: x.numpy() for n, x in zip(graph.input_names, inputs, strict=True)}
        try:
            got = sess.run(list(graph.output_names), feed)
        except Exception as exc:  # onnxruntime raises its own types; a size frozen by the tracer lands here
            raise VerificationError(
                f"{graph.name}: ONNX Runtime fails on inputs {shapes[-1]}: {exc}"
            ) from exc
        for name, ref, out in zip(graph.output_names, expected, got, strict=True):
            ref = ref.numpy()
            if out.shape != ref.shape:
                raise VerificationError(
                    f"{graph.name}: output {name!r} has shape {out.shape}, PyTorch gives {ref.shape} "
                    f"(inputs {shapes[-1]})"
                )
            error = max(error, float(np.abs(out.astype(np.float64) - ref).max(initial=0.0)))
            peak = max(peak, float(np.abs(ref).max(initial=0.0)))
    return GraphReport(
        max_abs_error=error, peak=peak, rtol=tolerance.rtol, atol=tolerance.atol, cases=tuple(shapes)
    )


def verify_graphs(
    graphs: dict[str, GraphDef], folder: str | Path, *, precision: str = "fp32"
) -> dict[str, dict[str, Any]]:
    """Check and compare every graph of a bundle folder (`{name}.onnx` per graph).

    Args:
        graphs: The graph definitions the files were exported from (`export.graphs.graph_defs`).
        folder: Where the `.onnx` files are.
        precision: "fp32" or "fp16": picks the tolerance (the reference is the fp32 PyTorch model).

    Returns:
        Per graph, `GraphReport.as_dict()` (for the manifest's provenance).

    Raises:
        VerificationError: A graph fails `onnx.checker` or its tolerance; the message names every failure.
    """
    tolerance = TOLERANCES[precision]
    reports, failures = {}, []
    for name, graph in graphs.items():
        path = Path(folder) / f"{name}.onnx"
        try:
            onnx.checker.check_model(str(path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise VerificationError(f"{path}: invalid ONNX model ({exc})") from exc
        scale = graph.tolerance_scale
        allowed = Tolerance(rtol=tolerance.rtol * scale, atol=tolerance.atol * scale)
        report = compare_graph(graph, path, tolerance=allowed)
        reports[name] = report.as_dict()
        if not report.passed:
            failures.append(
                f"{name}: max abs error {report.max_abs_error:.3g} > {report.atol:g} + {report.rtol:g} * "
                f"{report.peak:.3g}"
            )
    if failures:
        raise VerificationError(f"ONNX Runtime ({precision}) differs from PyTorch: " + "; ".join(failures))
    return reports
