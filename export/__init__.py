"""Export of the trained PyTorch parts to an ONNX model bundle."""
