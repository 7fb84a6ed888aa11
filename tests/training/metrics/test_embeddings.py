import librosa
import numpy as np
import pytest
import torch

from training.metrics.embeddings import (
    CNN14_16K,
    CNN14_32K,
    EXAMPLE_FRAMES,
    VGGISH,
    VGGISH_RATE,
    Cnn14,
    Cnn14Config,
    VGGish,
    VGGishConfig,
    cnn14_log_mel,
    cnn14_mel_matrix,
    load_panns,
    load_vggish,
    panns_outputs,
    vggish_embeddings,
    vggish_examples,
    vggish_mel_matrix,
)
from training.metrics.weights import WeightsMissing

TINY_VGGISH = VGGishConfig(channels=(4, 8, 8, 16), hidden=32)
TINY_CNN14 = Cnn14Config(base_width=4)

# torchvggish's vggish-10086976.pth, name -> shape.
PUBLISHED_VGGISH = {
    "features.0.weight": (64, 1, 3, 3),
    "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3),
    "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3),
    "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3),
    "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3),
    "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3),
    "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288),
    "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096),
    "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096),
    "embeddings.4.bias": (128,),
}


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def _noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(round(seconds * rate)).astype(np.float32)


def test_vggish_has_the_published_tensor_names_and_shapes():
    with torch.device("meta"):
        model = VGGish()
    assert _shapes(model) == PUBLISHED_VGGISH


def test_cnn14_has_the_published_tensor_names_and_shapes():
    with torch.device("meta"):
        shapes = _shapes(Cnn14())
    assert len(shapes) == 81  # the published file's 84 tensors less its 3 front-end ones
    assert shapes["bn0.running_var"] == (64,)
    assert shapes["conv_block1.conv1.weight"] == (64, 1, 3, 3)
    assert shapes["conv_block6.conv2.weight"] == (2048, 2048, 3, 3)
    assert shapes["conv_block6.bn2.num_batches_tracked"] == ()
    assert shapes["fc1.weight"] == (2048, 2048)
    assert shapes["fc_audioset.weight"] == (527, 2048) and shapes["fc_audioset.bias"] == (527,)
    assert not any(name.startswith("conv_block") and name.endswith("conv1.bias") for name in shapes)


def test_vggish_gives_one_128_d_embedding_per_0_96_s():
    torch.manual_seed(0)
    model = VGGish().eval()  # the published size, randomly initialised
    embeddings = vggish_embeddings(model, _noise(3.0, 48_000), 48_000)
    assert embeddings.shape == (3, 128) and np.isfinite(embeddings).all()
    assert vggish_embeddings(model, _noise(0.5, 48_000), 48_000).shape == (0, 128)


def test_cnn14_gives_a_2048_d_embedding_and_527_clipwise_probabilities():
    torch.manual_seed(0)
    model = Cnn14().eval()  # the published size, randomly initialised
    out = panns_outputs(model, _noise(1.0, 22_050), 22_050)
    assert out.embedding.shape == (1, 2048) and out.logits.shape == (1, 527)
    assert torch.equal(out.clipwise, torch.sigmoid(out.logits))
    assert ((out.clipwise > 0) & (out.clipwise < 1)).all()
    assert (out.embedding >= 0).all()  # after fc1's ReLU


def test_cnn14_takes_clips_shorter_than_its_pooling_needs():
    model = Cnn14(TINY_CNN14).eval()
    out = panns_outputs(model, _noise(0.05, 32_000), 32_000)
    assert out.embedding.shape == (1, TINY_CNN14.embedding_dim) and torch.isfinite(out.logits).all()


def test_vggish_examples_are_0_96_s_of_64_log_mel_bands():
    rate = 44_100
    t = np.arange(round(2.5 * rate)) / rate
    examples = vggish_examples(0.5 * np.sin(2 * np.pi * 1000.0 * t), rate)
    assert examples.shape == (2, EXAMPLE_FRAMES, 64) and examples.dtype == np.float32
    # The loudest band of a 1 kHz tone is the one whose triangle peaks nearest to 1 kHz.
    centres = librosa.mel_to_hz(
        np.linspace(*librosa.hz_to_mel([125.0, 7500.0], htk=True), 66)[1:-1], htk=True
    )
    assert examples.mean(axis=(0, 1)).argmax() == np.abs(centres - 1000.0).argmin()
    # Silence is log(0.01) everywhere.
    silent = vggish_examples(np.zeros(VGGISH_RATE), VGGISH_RATE)
    assert silent.shape == (1, EXAMPLE_FRAMES, 64) and np.allclose(silent, np.log(0.01))


def test_vggish_mel_bands_are_triangles_in_mel_without_dc():
    weights = vggish_mel_matrix()
    assert weights.shape == (257, 64)
    assert (weights[0] == 0).all() and weights.min() >= 0 and weights.max() <= 1
    freqs = np.linspace(0, 8000, 257)
    covered = freqs[weights.sum(axis=1) > 0]
    assert covered.min() > 125.0 and covered.max() < 7500.0


def test_cnn14_front_end_is_librosas_log_mel():
    wave = _noise(1.0, 32_000)
    ours = cnn14_log_mel(torch.from_numpy(wave.astype(np.float64))[None], CNN14_32K)[0, 0].numpy()
    mel = librosa.feature.melspectrogram(
        y=wave.astype(np.float64),
        sr=32_000,
        n_fft=1024,
        hop_length=320,
        n_mels=64,
        fmin=50,
        fmax=14_000,
        pad_mode="reflect",  # torchlibrosa pads by reflection (librosa >= 0.10 defaults to zeros)
    )
    reference = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_vggish_weights_round_trip_through_the_loader(tmp_path):
    torch.manual_seed(1)
    model = VGGish(TINY_VGGISH).eval()
    path = tmp_path / "vggish.pth"
    # torchvggish's hub model also carries its PCA post-processor, which FAD does not use.
    torch.save({**model.state_dict(), "pproc.pca_means": torch.zeros(128, 1)}, path)
    loaded = load_vggish(path, config=TINY_VGGISH)
    wave = _noise(2.0, 16_000)
    assert np.array_equal(vggish_embeddings(loaded, wave, 16_000), vggish_embeddings(model, wave, 16_000))
    assert not loaded.training


def test_panns_weights_round_trip_in_the_published_checkpoint_form(tmp_path):
    torch.manual_seed(2)
    model = Cnn14(TINY_CNN14).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that they must load too
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.normal_()
    front_end = {
        "spectrogram_extractor.stft.conv_real.weight": torch.zeros(513, 1, 1024),
        "logmel_extractor.melW": torch.from_numpy(cnn14_mel_matrix(CNN14_32K)),
    }
    path = tmp_path / "Cnn14.pth"
    torch.save({"model": {**model.state_dict(), **front_end}, "iteration": 0}, path)
    loaded = load_panns(path, config=TINY_CNN14)
    wave = _noise(1.5, 32_000)
    for ours, theirs in zip(
        panns_outputs(loaded, wave, 32_000), panns_outputs(model, wave, 32_000), strict=True
    ):
        assert torch.equal(ours, theirs)


def test_a_file_with_other_names_or_shapes_is_refused_by_name(tmp_path):
    state = VGGish(TINY_VGGISH).state_dict()
    renamed = tmp_path / "renamed.pth"
    torch.save(
        {("feature.0.weight" if k == "features.0.weight" else k): v for k, v in state.items()}, renamed
    )
    with pytest.raises(
        ValueError, match=r"renamed\.pth.*missing: features\.0\.weight.*unexpected: feature\.0"
    ):
        load_vggish(renamed, config=TINY_VGGISH)
    with pytest.raises(ValueError, match=r"renamed\.pth.*wrong shape"):
        load_vggish(renamed, config=VGGishConfig(channels=(4, 8, 8, 32), hidden=32))
    panns = tmp_path / "not_panns.pth"
    torch.save(state, panns)
    with pytest.raises(ValueError, match=r"not_panns\.pth: not PANNs CNN14 weights"):
        load_panns(panns, config=TINY_CNN14)


def test_a_panns_file_with_another_front_end_is_refused_by_name(tmp_path):
    path = tmp_path / "odd_mel.pth"
    torch.save({"logmel_extractor.melW": torch.zeros(100, 64)}, path)
    with pytest.raises(ValueError, match=r"odd_mel\.pth: mel matrix \(100, 64\) fits neither"):
        load_panns(path)
    torch.save({"logmel_extractor.melW": torch.from_numpy(cnn14_mel_matrix(CNN14_16K))}, path)
    with pytest.raises(ValueError, match=r"odd_mel\.pth: its mel front end is not CNN14's at 32000 Hz"):
        load_panns(path, config=CNN14_32K)


def test_asking_without_weights_raises_weights_missing():
    with pytest.raises(WeightsMissing, match="FAD not computed: no VGGish weights given") as caught:
        load_vggish(None)
    assert caught.value.network == "VGGish"
    with pytest.raises(WeightsMissing, match="PANNs CNN14"):
        load_panns(None)


def test_a_missing_or_foreign_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_vggish(tmp_path / "nowhere.pth", config=VGGISH)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"junk\.pth: not a readable weights file"):
        load_panns(junk)
