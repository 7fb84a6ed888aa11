import numpy as np
import pytest
import torch

from tests import media_factory as mf
from training.checkpoint import save_checkpoint
from training.contrastive.similarity import position_aware_similarity
from training.metrics.sim import load_sim_model, read_pair, sim_score, sim_scores, similarity
from training.models.registry import part_from_checkpoints


@pytest.fixture(scope="module")
def model(contrastive_checkpoint):
    return load_sim_model(contrastive_checkpoint)


@pytest.fixture(scope="module")
def pair(model, tmp_path_factory):
    """3 s of pattern video with a click track, read at the encoders' frame size and audio rate."""
    path = tmp_path_factory.mktemp("sim") / "clip.mp4"
    audio = mf.clicks(np.arange(0.2, 3.0, 0.5), seconds=3.0) + mf.sine(330.0, seconds=3.0, amplitude=0.2)
    mf.write_media(path, frame_times=np.arange(30) / 10, audio=audio)
    return read_pair(model, path, path)


def test_read_pair_gives_frames_and_music_for_the_encoders(model, pair):
    frames, wave = pair
    assert frames.shape == (30, model.image_size, model.image_size, 3) and frames.dtype == np.uint8
    assert wave.shape == (3 * model.sample_rate,)


def test_sim_is_the_contrastive_stages_own_similarity(contrastive_checkpoint, pair):
    frames, wave = pair
    score = sim_score(contrastive_checkpoint, frames, wave)
    # The same computation as the stage's objective, with the parts it stored.
    paths = (str(contrastive_checkpoint),)
    encoder, adaptor, audio = (
        part_from_checkpoints(name, paths).eval() for name in ("visual_encoder", "adaptor", "audio_encoder")
    )
    with torch.no_grad():
        video = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255)[None]
        v = adaptor(encoder(video, lengths=torch.tensor([30])), n_out=30)
        a = audio(torch.from_numpy(wave)[None], n_frames=30)
        expected = 100 * float(position_aware_similarity(v, a, mask=torch.ones(1, 30, dtype=torch.bool))[0])
    assert score == pytest.approx(expected, abs=1e-4)
    assert -100.0 <= score <= 100.0


def test_sim_depends_on_where_the_music_is(model, pair):
    frames, wave = pair
    scores = sim_scores(model, [(frames, wave), (frames, np.roll(wave, len(wave) // 3)), (frames, wave)])
    assert scores[0] == scores[2]
    assert scores[0] != pytest.approx(scores[1], abs=1e-6)
    # Float frames in [0, 1] are the same input as uint8 ones.
    floats = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    assert similarity(model, floats, wave) == pytest.approx(scores[0], abs=1e-5)


def test_frames_of_the_wrong_size_are_refused(model, pair):
    frames, wave = pair
    with pytest.raises(ValueError, match="visual encoder's size"):
        similarity(model, frames[:, :-2], wave)


def test_a_checkpoint_without_contrastive_encoders_is_refused_by_name(tmp_path):
    path = save_checkpoint(tmp_path / "vae.ckpt", {"stage": "vae", "models": {}})
    with pytest.raises(ValueError, match=r"vae\.ckpt: no contrastive encoders.*'contrastive' training stage"):
        load_sim_model(path)
