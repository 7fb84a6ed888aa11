import json
import os

from muvi_plugin.panel.takes import Take, TakeStore, video_key


def _take(store: TakeStore, name: str) -> Take:
    take_id, wav = store.new_audio_path()
    wav.write_bytes(b"RIFF")  # the store only checks that the file is there
    record = {"start": 1.0, "end": 3.0, "seed": 7, "steps": 2, "guidance": 4.0, "style": None}
    record |= {"bundle_id": "bundle-id", "provider": "CPU", "seconds": {"total": 0.5}}
    return Take(take_id, name, wav.name, 24000, "now", record)


def test_store_persists_renames_and_deletes(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    store = TakeStore(video, tmp_path / "data")
    a, b = store.add(_take(store, "A")), store.add(_take(store, "B"))
    store.rename(a.id, "Chase")
    store.delete(b.id)
    assert not store.path(b).exists()
    again = TakeStore(video, tmp_path / "data")
    assert [t.name for t in again.takes] == ["Chase"]
    (kept,) = json.loads((again.folder / "takes.json").read_text())["takes"]
    assert kept["report"]["seed"] == 7 and "seed" not in kept, "the record alone, nothing copied beside it"


def test_key_follows_path_and_mtime(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    key = video_key(video)
    os.utime(video, ns=(0, 10**18))
    assert video_key(video) != key


def test_missing_wav_or_broken_index_is_not_fatal(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    store = TakeStore(video, tmp_path)
    take = store.add(_take(store, "A"))
    store.path(take).unlink()
    assert TakeStore(video, tmp_path).takes == []
    (store.folder / "takes.json").write_text("{not json")
    assert TakeStore(video, tmp_path).takes == []


def test_a_schema_1_index_is_read_with_a_record_made_from_its_fields(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    store = TakeStore(video, tmp_path)
    take_id, wav = store.new_audio_path()
    wav.write_bytes(b"RIFF")
    old = {"id": take_id, "name": "Old", "wav": wav.name, "start": 1.0, "end": 3.0, "seed": 7, "steps": 2,
           "guidance": 4.0, "style": None, "bundle_id": "b", "provider": "CPU", "seconds": 0.5,
           "sample_rate": 24000, "created": "then"}  # fmt: skip
    (store.folder / "takes.json").write_text(json.dumps({"schema": 1, "takes": [old]}))
    (take,) = TakeStore(video, tmp_path).takes
    assert (take.name, take.start, take.seed, take.seconds, take.bundle_id) == ("Old", 1.0, 7, 0.5, "b")
    assert take.record.request().seed == 7 and take.record.video == str(video)
