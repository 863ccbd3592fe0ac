"""The torch wing: the only modules that import torch at module level. Models, the training loop and its parts,
export (ONNX + parity), the torch runtime backend and device choice."""
