import numpy as np

from tests.training.synthdata.factory import scale_piece
from training.synthdata.midi import PPQ
from training.synthdata.timeline import Meter, TimedBar, lay_out


def test_meters():
    assert Meter.of(4, 4) == Meter(4, PPQ, 2)
    assert Meter.of(6, 8) == Meter(2, 3 * PPQ // 2, 3)
    assert Meter.of(12, 8) == Meter(4, 3 * PPQ // 2, 3)
    assert Meter.of(3, 8) == Meter(3, PPQ // 2, 2)
    assert Meter.of(2, 2) == Meter(2, 2 * PPQ, 2)


def test_pickup_beats_count_back_from_the_bar_end():
    pickup = TimedBar(0, PPQ, 3, 4, pickup=True)  # one beat of 3/4
    assert pickup.beats() == [(0, 2)]
    cut = TimedBar(0, PPQ // 2, 4, 4, pickup=True)  # an eighth-note upbeat: no beat inside
    assert cut.beats() == []


def test_a_short_piece_loops_with_a_section_at_each_repeat_and_a_steady_beat():
    piece = scale_piece(3, 4, bars=4, pickup=1.0)  # 12 quarters: a pickup, and a last bar short by as much
    ticks = 40 * PPQ
    for seed in range(4):
        timeline = lay_out(piece, ticks=ticks, rng=np.random.default_rng(seed))
        assert timeline.length == ticks
        shift = round(timeline.offset * PPQ)  # where in the looped piece the window starts
        beats = [tick for tick, _, _ in timeline.beats()]
        assert beats == list(range(0, ticks, PPQ))  # steady across the loop points too
        downbeats = timeline.downbeats()
        assert np.all(np.diff(downbeats) == 3 * PPQ) and (downbeats[0] + shift) % (3 * PPQ) == PPQ
        # Sections: each repeat, on the downbeat after its pickup, and the piece's own at quarter 4.
        where = {(at + shift) % (12 * PPQ) for at, kind in timeline.boundaries if kind == "section"}
        assert where == {PPQ, 4 * PPQ}
        assert len(timeline.boundaries) >= 5
        assert all(0 <= note.start < ticks for note in timeline.notes)


def test_a_long_piece_gives_a_window_starting_on_a_bar_line():
    piece = scale_piece(4, 4, bars=32)
    for seed in range(6):
        timeline = lay_out(piece, ticks=10 * PPQ, rng=np.random.default_rng(seed))
        assert timeline.length == 10 * PPQ
        assert timeline.offset % 4 == 0 and 0 <= timeline.offset <= 128 - 10
        assert timeline.downbeats() == [0, 4 * PPQ, 8 * PPQ]
        assert sum(bar.length for bar in timeline.bars) == 10 * PPQ
        first = min(n.start for n in timeline.notes)
        assert first == 0
