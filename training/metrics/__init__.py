"""Evaluation of generated music: the metrics MuVi reports and the ones an editor needs.

- `beats`: Ellis DP beat tracking (time-varying tempo, 8 s window, 30-240 BPM) and BCS / BHS with their
  capped precision / recall / F-measure variants (one-to-one matching within 100 ms).
- `audio_stats`: embedding-free statistics that always work (onsets, tempo, loudness, flatness, RMS).
- `sync`: visual events (hard cuts, motion peaks) against music onsets, with a time-shifted chance
  baseline, for videos without reference music.
- `distances`: Fréchet distance, KL and IS over embeddings or class predictions (plain arrays).
- `embeddings`: VGGish (FAD) and PANNs CNN14 (FD, KL, IS) in PyTorch, named as their published
  checkpoints; `weights` reads those checkpoints from local files (never downloaded).
- `musicality`: is it music? Share of energy on the 80 Hz mel-frame comb, in-tune share (pYIN, A440), key
  (Krumhansl-Kessler), tempo stability, basic-pitch note transcription and note F1.
- `sim`: SIM, the position-aware similarity of the contrastive stage's encoders (reference-free).
- `report`: the JSON report (atomic; missing numbers as null with a note) and PNG timelines.
- `evaluate`: every metric over a set of files paired by name, as one report; `cli` is `muvi-eval`,
  argument parsing over it.

Nothing is imported here: librosa, matplotlib and torch load only when a metric needs them (`weights`,
`embeddings` and `sim` import torch when they are imported).
"""
