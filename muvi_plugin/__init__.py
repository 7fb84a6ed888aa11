"""muvi runtime: scores video with an ONNX model bundle. Never imports torch."""

__version__ = "0.1.0"
