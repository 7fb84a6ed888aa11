"""The embedded default model ships inside the package, verifies, and scores without `--bundle` or torch."""

import fnmatch
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import av
import numpy as np

from muvi_plugin.bundle import default_bundle_path, verify_bundle

REPO = Path(__file__).resolve().parents[2]
TESTVIDEO = REPO / ".." / "shared" / "media" / "testvideo.mp4"
# Issue 6 asked for "well under 50 MB"; the Vocos vocoder of muvi-demo 1.1 (issue 14: its weights and the
# fixed DFT bases of its in-graph Griffin-Lim) brought the bundle to 60 MiB; issue 16 allows 80 MB.
MAX_BYTES = 80 * 1000 * 1000


def test_the_default_bundle_is_there_verified_and_small():
    folder = default_bundle_path()
    manifest = verify_bundle(None)  # every graph's sha256 against the manifest
    assert manifest.name == "muvi-demo" and manifest.precision == "fp32"
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < MAX_BYTES, f"{folder}: {size / 2**20:.1f} MiB"
    # It was exported from the demo recipe's own checkpoints, and its verification passed.
    assert manifest.provenance["verification"]
    # Every file of the bundle is package data, so a wheel or a non-editable install carries it.
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "muvi_plugin"
    ]
    for path in folder.iterdir():
        name = f"default_bundle/{path.name}"
        assert any(fnmatch.fnmatch(name, p) for p in patterns), f"{name} is not package data"


def test_scoring_with_the_embedded_model_needs_no_bundle_and_no_torch(tmp_path):
    # What the README's first command does, in a subprocess that checks torch never loads.
    out = tmp_path / "score.wav"
    code = (
        "import sys; from muvi_plugin.cli import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch loaded'; sys.exit(rc)"
    )
    args = ["score", str(TESTVIDEO), "--start", "3", "--end", "13.5", "--seed", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        rate = stream.rate
    audio = audio / 32768.0 if audio.dtype == np.int16 else audio  # 16-bit PCM WAV -> [-1, 1)
    assert rate == 24_000 and len(audio) == 252_000  # exactly 10.5 s
    assert np.isfinite(audio).all()
    # Music, not silence or a constant: loudness-normalised level, and it changes over time.
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
    assert 0.02 < rms < 0.7
    frames = audio[: len(audio) // 2400 * 2400].reshape(-1, 2400)
    assert np.std(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))) > 0.005
    assert run.stdout.startswith(f"{out}: 10.50 s of music")
