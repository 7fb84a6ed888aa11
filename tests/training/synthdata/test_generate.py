import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.training.synthdata.factory import needs_fluidsynth
from training.data.video_music import VideoMusicDataset
from training.synthdata.corpus import PieceRef
from training.synthdata.generate import GenerateConfig, generate, held_out, plan

FAKE = [PieceRef(f"bach/piece{i}.mxl") for i in range(300)] + [
    PieceRef("essenFolksong/book.abc", i) for i in range(300)
]
# Twelve short folk songs (a few bars each): quick to parse and render.
SONGS = [PieceRef("essenFolksong/han1.abc", number) for number in range(1, 13)]
FOLK = (("folk songs", 1.0, ("essenFolksong",)),)


def _split_id(piece_id):
    path, _, number = piece_id.partition("#")
    return path, int(number) if number else None


def renderings(jobs, split):
    return [(job.pieces[0].id, r) for job in jobs if job.split == split for r in job.renderings]


def test_the_plan_splits_by_piece_and_hours():
    jobs = plan(GenerateConfig(out="unused", hours=3.0, seed=0), FAKE)
    pieces = {
        split: {p.id for job in jobs if job.split == split for p in job.pieces} for split in ("train", "test")
    }
    assert pieces["train"] and pieces["test"] and not pieces["train"] & pieces["test"]
    seconds = {split: sum(r.duration for _, r in renderings(jobs, split)) for split in ("train", "test")}
    assert seconds["train"] == pytest.approx(2.7 * 3600, abs=60) and seconds["test"] == pytest.approx(
        0.3 * 3600, abs=60
    )
    durations = [r.duration for job in jobs for r in job.renderings]
    assert min(durations) >= 20 and max(durations) <= 60
    assert all(1 <= len(job.renderings) <= 4 for job in jobs)
    for split in ("train", "test"):
        names = [r.name for _, r in renderings(jobs, split)]
        assert names == [f"{i:06d}" for i in range(len(names))]
    # Held out by name alone: the same pieces whatever the seed.
    assert all(held_out(PieceRef(*_split_id(i)), 0.1) for i in pieces["test"])
    assert not any(held_out(PieceRef(*_split_id(i)), 0.1) for i in pieces["train"])
    other = plan(GenerateConfig(out="unused", hours=3.0, seed=1), FAKE)
    assert {p.id for job in other if job.split == "test" for p in job.pieces} <= {
        p.id for p in FAKE if held_out(p, 0.1)
    }


def test_the_plan_is_seeded_and_more_hours_extend_it():
    short, long = (plan(GenerateConfig(out="unused", hours=hours, seed=4), FAKE) for hours in (1.0, 2.0))
    assert plan(GenerateConfig(out="unused", hours=1.0, seed=4), FAKE) == short
    assert plan(GenerateConfig(out="unused", hours=1.0, seed=5), FAKE) != short
    for split in ("train", "test"):
        assert renderings(long, split)[: len(renderings(short, split))] == renderings(short, split)


@needs_fluidsynth
def test_generate_writes_clips_manifests_and_resumes(tmp_path):
    config = GenerateConfig(
        out=str(tmp_path),
        hours=12 / 3600,
        seed=0,
        test_fraction=0.5,
        min_seconds=3.0,
        max_seconds=3.0,
        renderings=(2, 2),
        groups=FOLK,
    )
    summary = generate(config, pieces=SONGS)
    assert summary.files == {"train": 2, "test": 2} and summary.seconds == {"train": 6.0, "test": 6.0}
    assert summary.rendered_seconds == 12.0 and summary.cpu_seconds > 0
    manifests = {
        split: json.loads((tmp_path / split / "manifest.json").read_text()) for split in ("train", "test")
    }
    pieces = {split: {clip["piece"] for clip in manifests[split]["clips"]} for split in manifests}
    assert not pieces["train"] & pieces["test"]
    clip = manifests["train"]["clips"][0]
    assert (
        clip["file"] == "000000.mkv"
        and clip["duration"] == 3.0
        and clip["piece"].startswith("essenFolksong/")
    )
    assert {"seed", "bpm", "transpose", "instruments", "arrangement", "video"} <= set(clip)
    sidecar = json.loads((tmp_path / "train" / clip["events"]).read_text())
    assert sidecar["music"]["beats"] and sidecar["music"]["drums"] and sidecar["music"]["duration"] == 3.0

    files = sorted(tmp_path.rglob("*.mkv"))
    stamps = [path.stat().st_mtime_ns for path in files]
    again = generate(config, pieces=SONGS)
    assert again.rendered_seconds == 0 and again.files == summary.files
    assert [path.stat().st_mtime_ns for path in files] == stamps

    video = tmp_path / "train" / "000001.mkv"
    before = video.read_bytes()
    (tmp_path / "train" / "000001.json").unlink()  # as if the run had stopped before the sidecar
    third = generate(config, pieces=SONGS)
    assert third.rendered_seconds == 3.0 and video.read_bytes() == before  # the same seed, the same file


@needs_fluidsynth
def test_a_generated_clip_loads_through_the_video_music_dataset(tmp_path):
    config = GenerateConfig(
        out=str(tmp_path),
        hours=8 / 3600,
        test_fraction=0.5,
        min_seconds=4.0,
        max_seconds=4.0,
        renderings=(1, 1),
        groups=FOLK,
    )
    generate(config, pieces=SONGS)
    dataset = VideoMusicDataset(tmp_path / "train", image_size=96, min_seconds=2.0, max_seconds=3.0, seed=0)
    assert len(dataset) == 1 and dataset.durations == pytest.approx([4.0])
    item = dataset[0]
    frames, wave = item["frames"], item["wave"]
    assert frames.shape == (round(item["duration"] * 10), 3, 96, 96)
    assert wave.shape == (round(item["duration"] * 24_000),) and float(wave.abs().max()) > 0.05
    assert float(frames.std()) > 0.02
    assert Path(item["path"]).name == "000000.mkv"
    assert np.isfinite(wave.numpy()).all()


@needs_fluidsynth
@pytest.mark.slow
def test_worker_processes_make_the_same_files(tmp_path):
    config = GenerateConfig(
        out="",
        hours=6 / 3600,
        test_fraction=0.5,
        min_seconds=3.0,
        max_seconds=3.0,
        renderings=(1, 1),
        groups=FOLK,
    )
    for jobs in (1, 2):
        generate(dataclasses.replace(config, out=str(tmp_path / str(jobs))), jobs=jobs, pieces=SONGS)
    one, two = (sorted((tmp_path / str(jobs)).rglob("*.*")) for jobs in (1, 2))
    assert [p.relative_to(tmp_path / "1") for p in one] == [p.relative_to(tmp_path / "2") for p in two]
    assert len(one) == 6  # a clip, its sidecar and a manifest per split
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two, strict=True))
