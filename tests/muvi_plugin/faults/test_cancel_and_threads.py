"""Cancel at every stage, and threads sharing one Scorer, with a real exported debug bundle."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from muvi_plugin.api import Cancelled, ScoreRequest, load_bundle
from muvi_plugin.audio_io import write_audio
from muvi_plugin.pipeline import STAGES
from tests import media_factory as mf

STEPS = 3


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return mf.make_video(tmp_path_factory.mktemp("media") / "video.mp4", seconds=6.0)


def score_to_file(scorer, request, out: Path, **kwargs) -> None:
    """What every front end does: score, then write the music."""
    result = scorer.score(request, **kwargs)
    write_audio(out, result.audio, result.sample_rate)


@pytest.mark.parametrize("stage", STAGES)
def test_cancel_at_every_stage_writes_nothing_and_the_scorer_still_works(scorer, debug_bundle, video,
                                                                          tmp_path, stage):  # fmt: skip
    cancel, seen = threading.Event(), []

    def progress(name: str, fraction: float) -> None:
        seen.append(name)
        if name == stage:
            cancel.set()

    request = ScoreRequest(video, start=0.5, end=2.5, seed=3, steps=STEPS)
    with pytest.raises(Cancelled):
        score_to_file(scorer, request, tmp_path / "music.wav", progress=progress, cancel=cancel)
    assert stage in seen and "done" not in seen
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    again = scorer.score(request).audio  # the same scorer, right after the cancel
    fresh = load_bundle(debug_bundle, device="cpu", threads=1).score(request).audio
    assert np.array_equal(again, fresh)


def test_eight_threads_sharing_one_scorer_match_serial_bit_for_bit(scorer, video):
    requests = [
        ScoreRequest(video, start=0.25 * i, end=0.25 * i + 1.5, seed=i, steps=STEPS) for i in range(8)
    ]
    serial = [scorer.score(r).audio for r in requests]
    results: list = [None] * len(requests)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(requests))

    def work(i: int) -> None:
        try:
            barrier.wait()  # all at once, so the graphs really run side by side
            results[i] = scorer.score(requests[i]).audio
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({a.tobytes() for a in serial}) == len(serial)  # different requests, different music
    for i, (a, b) in enumerate(zip(serial, results, strict=True)):
        assert np.array_equal(a, b), i
