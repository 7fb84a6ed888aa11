"""Evaluation of generated music: the metrics MuVi reports and the ones an editor needs.

- `beats`: Ellis DP beat tracking (time-varying tempo, 8 s window, 30-240 BPM) and BCS / BHS with their
  capped precision / recall / F-measure variants (one-to-one matching within 100 ms).
- `audio_stats`: embedding-free statistics that always work (onsets, tempo, loudness, flatness, RMS).
- `sync`: visual events (hard cuts, motion peaks) against music onsets, with a time-shifted chance
  baseline, for videos without reference music.
- `report`: the JSON report (atomic) and PNG timelines.
- `cli`: the `muvi-eval` command over all of the above (and the embedding metrics of `embeddings` and
  `sim`, when weights are given).

Nothing is imported here: librosa, matplotlib and torch load only when a metric needs them.
"""
