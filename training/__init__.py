"""muvi training: PyTorch models of every MuVi part, flow matching, contrastive pre-training, stages."""
