import json
import os

from muvi_plugin.panel.takes import Take, TakeStore, video_key


def _take(store: TakeStore, name: str) -> Take:
    take_id, wav = store.new_audio_path()
    wav.write_bytes(b"RIFF")  # the store only checks that the file is there
    return Take(take_id, name, wav.name, 1.0, 3.0, 7, 2, 4.0, None, "bundle-id", "CPU", 0.5, 24000, "now")


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
    assert json.loads((again.folder / "takes.json").read_text())["takes"][0]["seed"] == 7


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
