import pytest

from muvi_plugin.panel.timecode import format_time, parse_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12.5", 12.5), ("1:02.5", 62.5), ("00:01:02.500", 62.5), ("90", 90.0), ("1:00:00", 3600.0)],
)
def test_parse_time(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1:", "-3", "1:75", "nan", "1:2:3:4"])
def test_parse_time_refuses(text):
    with pytest.raises(ValueError, match="not a time"):
        parse_time(text)


def test_format_round_trips():
    for seconds in (0.0, 0.001, 59.999, 61.25, 3725.5):
        assert parse_time(format_time(seconds)) == pytest.approx(seconds, abs=5e-4)
    assert format_time(3725.5) == "01:02:05.500"
