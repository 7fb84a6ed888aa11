"""The helpers every muvi command line shares (muvi_plugin/console.py)."""

import argparse
import math

import pytest

from muvi_plugin.console import add_timeline_options, loudness, unused_name


def test_unused_name_never_picks_an_existing_file(tmp_path):
    first = tmp_path / "clip.muvi.wav"
    assert unused_name(first) == first
    first.write_bytes(b"take 1")
    assert unused_name(first) == tmp_path / "clip.muvi-2.wav"
    (tmp_path / "clip.muvi-2.wav").write_bytes(b"take 2")
    assert unused_name(first) == tmp_path / "clip.muvi-3.wav"
    (tmp_path / "clip.muvi-3.wav").symlink_to(tmp_path / "gone")  # a dangling link is taken too
    assert unused_name(first) == tmp_path / "clip.muvi-4.wav"


def test_loudness_option():
    assert loudness("-14") == -14.0 and math.isnan(loudness("OFF"))
    for bad in ("loud", "3", "-80"):
        with pytest.raises(argparse.ArgumentTypeError):
            loudness(bad)


def test_timeline_options_parse_with_their_defaults():
    parser = argparse.ArgumentParser()
    add_timeline_options(parser)
    args = parser.parse_args(["--range", "1s-2s", "--range", "3s-4s", "--loudness", "off"])
    assert args.ranges == ["1s-2s", "3s-4s"] and math.isnan(args.loudness)
    assert (args.seed, args.steps, args.missing, args.device) == (0, None, "error", "auto")
