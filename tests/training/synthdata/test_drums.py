import numpy as np
import pytest

from tests.training.synthdata.factory import scale_piece
from training.synthdata.drums import CLOSED_HAT, CRASH, KICK, RIDE, SNARE, STYLES, backbeat, drum_part
from training.synthdata.midi import PPQ
from training.synthdata.timeline import TimedBar, Timeline, lay_out


def whole(piece) -> Timeline:
    """The piece exactly once (no loop, no window)."""
    return lay_out(piece, ticks=round(piece.length * PPQ), rng=np.random.default_rng(0))


def plain(numerator: int, denominator: int, bars: int = 8) -> Timeline:
    """Bars of one meter and nothing else: no boundaries, so no fills."""
    length = numerator * 4 * PPQ // denominator
    timed = tuple(TimedBar(i * length, length, numerator, denominator) for i in range(bars))
    return Timeline(length=bars * length, notes=(), bars=timed, boundaries=(), offset=0.0)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("signature", [(4, 4), (3, 4), (6, 8), (2, 2), (5, 4), (7, 8)])
def test_a_kick_on_every_downbeat(signature, style):
    timeline = plain(*signature)
    kicks = {
        n.start for n in drum_part(timeline, style=style, rng=np.random.default_rng(1)) if n.pitch == KICK
    }
    assert timeline.downbeats() == [i * timeline.bars[0].length for i in range(8)]
    assert set(timeline.downbeats()) <= kicks


def test_four_four_backbeat_has_snares_on_two_and_four_only():
    timeline = plain(4, 4)
    notes = drum_part(timeline, style="backbeat", rng=np.random.default_rng(2))
    loud_snares = {n.start for n in notes if n.pitch == SNARE and n.velocity >= 70}  # not ghost notes
    expected = {bar.start + beat * PPQ for bar in timeline.bars for beat in (1, 3)}
    assert loud_snares == expected
    kicks = {n.start for n in notes if n.pitch == KICK}
    assert {bar.start + 2 * PPQ for bar in timeline.bars} <= kicks  # beat 3 is strong too


def test_three_four_is_kick_then_two_snares():
    timeline = plain(3, 4)
    notes = drum_part(timeline, style="backbeat", rng=np.random.default_rng(3))
    on_beats = {(n.start, n.pitch) for n in notes if n.start % PPQ == 0 and n.pitch in (KICK, SNARE)}
    for bar in timeline.bars:
        assert (bar.start, KICK) in on_beats
        assert (bar.start + PPQ, KICK) not in on_beats and (bar.start + 2 * PPQ, KICK) not in on_beats
        assert (bar.start + PPQ, SNARE) in on_beats and (bar.start + 2 * PPQ, SNARE) in on_beats


@pytest.mark.parametrize(("signature", "step"), [((4, 4), PPQ // 2), ((6, 8), PPQ // 2), ((2, 2), PPQ)])
def test_hats_or_ride_on_every_subdivision(signature, step):
    timeline = plain(*signature)
    for style in ("backbeat", "ride"):
        cymbals = {
            n.start
            for n in drum_part(timeline, style=style, rng=np.random.default_rng(4))
            if n.pitch in (CLOSED_HAT, RIDE)
        }
        # Every subdivision has a cymbal, but the bar's last one may be an open hat instead.
        expected = set(range(0, timeline.length, step))
        assert len(expected - cymbals) <= len(timeline.bars)
        assert cymbals <= expected


def test_section_boundaries_get_a_crash_and_a_kick():
    piece = scale_piece(4, 4, bars=8)
    timeline = whole(piece)
    ((boundary, kind),) = timeline.boundaries
    assert kind == "section" and boundary == 4 * 4 * PPQ
    for seed in range(5):
        notes = drum_part(timeline, style="backbeat", rng=np.random.default_rng(seed))
        assert {(boundary, CRASH), (boundary, KICK)} <= {(n.start, n.pitch) for n in notes}


def test_backbeat_groups_odd_meters():
    assert backbeat(4) == {0: KICK, 1: SNARE, 2: KICK, 3: SNARE}
    assert backbeat(3) == {0: KICK, 1: SNARE, 2: SNARE}
    assert backbeat(7) == {0: KICK, 1: SNARE, 2: KICK, 3: SNARE, 4: KICK, 5: SNARE}  # 2 + 2 + 3
    assert backbeat(5) == {0: KICK, 1: SNARE, 2: KICK, 3: SNARE}  # 2 + 3
    with pytest.raises(ValueError, match="drum style"):
        drum_part(plain(4, 4), style="polka", rng=np.random.default_rng(0))
