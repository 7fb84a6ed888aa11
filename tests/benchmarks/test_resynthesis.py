"""`benchmarks/resynthesis.py` on a tiny case: two synthesised clips, a fresh debug vocoder and VAE."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import resynthesis as rs
from tests import media_factory as mf

SR = 24_000
SECONDS = 2.5


def _notes(pitches: tuple[int, ...]) -> np.ndarray:
    """Decaying harmonic tones, one every 0.5 s."""
    t = np.arange(round(0.5 * SR)) / SR
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-4.0 * t)
    tones = []
    for p in pitches:
        hz = 440.0 * 2 ** ((p - 69) / 12)
        tones.append(envelope * sum(0.2 / k * np.sin(2 * np.pi * hz * k * t) for k in range(1, 6)))
    return np.concatenate(tones).astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Three clips (FLAC at 24 kHz in .mkv, as rendered data is) of two pieces, with sidecars."""
    folder = tmp_path_factory.mktemp("data")
    for name, piece, pitches in (
        ("000000", "tune-a", (60, 64, 67, 72, 67)),
        ("000001", "tune-a", (62, 65, 69, 74, 69)),  # the same piece again: left out
        ("000002", "tune-b", (57, 60, 64, 57, 55)),
    ):
        mf.write_media(folder / f"{name}.mkv", audio=_notes(pitches)[None], audio_rate=SR, audio_codec="flac")
        (folder / f"{name}.json").write_text(json.dumps({"file": f"{name}.mkv", "piece": piece}))
    (folder / "manifest.json").write_text(json.dumps({"clips": []}))  # not a sidecar: skipped
    return folder


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> tuple[Path, Path]:
    """Stage checkpoints holding a freshly built debug vocoder and debug VAE."""
    from training import presets
    from training.checkpoint import save_checkpoint
    from training.tasks.base import build_part, part_entry

    folder = tmp_path_factory.mktemp("parts")
    vocoder = build_part("vocoder", presets.vocoder_config("debug"))
    vae = build_part("vae", presets.vae_config("debug"))
    return (
        save_checkpoint(folder / "vocoder.ckpt", {"models": {"vocoder": part_entry(vocoder)}}),
        save_checkpoint(folder / "vae.ckpt", {"models": {"vae": part_entry(vae)}}),
    )


def test_one_clip_per_piece(data):
    clips = rs.pick_clips(data, 12)
    assert [(c.name, c.piece) for c in clips] == [("000000", "tune-a"), ("000002", "tune-b")]
    assert [c.name for c in rs.pick_clips(data, 1)] == ["000000"]


@pytest.mark.slow
def test_the_table_has_every_row_and_column_and_the_original_is_its_own_ceiling(data, parts, tmp_path):
    from muvi_plugin.media import read_audio
    from training.metrics.musicality import comb_share

    vocoder, vae = parts
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    out = tmp_path / "resynthesis.json"
    argv = ["--data", str(data), "--seconds", str(SECONDS), "--vocoder", f"debug={vocoder}"]
    argv += ["--vae", f"dvae={vae}", "--json", str(out), "--write", str(md)]
    assert rs.main(argv) == 0

    result = json.loads(out.read_text())
    assert list(result["rows"]) == ["original", "griffin-lim", rs.TRUE_MAGNITUDE, "debug", "dvae+debug"]
    columns = [key for _, key, _ in rs.COLUMNS]
    for name, row in result["rows"].items():
        assert [c["clip"] for c in row["clips"]] == ["000000", "000002"]
        assert set(row["summary"]) == set(columns)
        for key in ("comb_share", "mrstft", "voiced_share", "note_f1"):
            assert all(c[key] is not None and math.isfinite(c[key]) for c in row["clips"]), (name, key)
    original = result["rows"]["original"]
    for clip in original["clips"]:
        wave = read_audio(data / f"{clip['clip']}.mkv", start=0.0, end=SECONDS, sample_rate=SR)
        assert clip["comb_share"] == pytest.approx(comb_share(wave, SR), abs=1e-6)
        assert clip["note_f1"] == 1.0 and clip["notes"] > 0
        assert clip["mrstft"] == 0.0 and clip["rtf"] is None
    assert original["summary"]["rtf"]["mean"] is None
    # Griffin-Lim keeps the pitches of the mel; an untrained vocoder keeps nothing.
    assert result["rows"]["griffin-lim"]["summary"]["note_f1"]["mean"] >= 0.5
    # Griffin-Lim on the true magnitude keeps more than on the mel's: the ceiling of a magnitude-only vocoder.
    assert (
        result["rows"][rs.TRUE_MAGNITUDE]["summary"]["mrstft"]["mean"]
        < result["rows"]["griffin-lim"]["summary"]["mrstft"]["mean"]
    )
    assert (
        result["rows"]["debug"]["summary"]["mrstft"]["mean"]
        > result["rows"]["griffin-lim"]["summary"]["mrstft"]["mean"]
    )
    low, high = result["rows"]["griffin-lim"]["summary"]["comb_share"]["ci95"]
    assert low <= result["rows"]["griffin-lim"]["summary"]["comb_share"]["mean"] <= high

    text = md.read_text()
    assert "## Other\n\nkept\n" in text and text.count(rs.SECTION) == 1
    assert "| resynthesis | comb share | MR-STFT distance | in tune | voiced | note F1 | RTF |" in text
    for name in result["rows"]:
        assert f"| {name} | " in text
    assert "python -m benchmarks.resynthesis --data" in text


def test_bad_arguments_are_one_line(data, tmp_path, capsys):
    assert rs.main(["--data", str(data), "--vocoder", "no-equals-sign"]) == 2
    assert capsys.readouterr().err.strip() == (
        "benchmarks.resynthesis: error: --vocoder 'no-equals-sign': expected NAME=PATH"
    )
    missing = tmp_path / "nope.ckpt"
    assert rs.main(["--data", str(data), "--vocoder", f"v={missing}"]) == 2
    assert str(missing) in capsys.readouterr().err
    assert rs.main(["--data", str(tmp_path / "none")]) == 2
    assert "no such data folder" in capsys.readouterr().err
