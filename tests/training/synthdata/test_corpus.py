import pytest

from training.synthdata.corpus import PieceError, PieceRef, catalogue, load_piece


def test_a_chorale_reads_with_its_parts_meter_pickup_and_fermata_phrases():
    piece = load_piece(PieceRef("bach/bwv269.mxl"))
    assert piece.part_names == ("Soprano", "Alto", "Tenor", "Bass")
    assert piece.part_pitches[0] > piece.part_pitches[-1]
    first = piece.bars[0]
    assert (first.numerator, first.denominator, first.pickup, first.length) == (3, 4, True, 1.0)
    assert (piece.key_tonic, piece.key_mode) == (7, "major")  # G major
    phrases = [b.at for b in piece.boundaries if b.kind == "phrase"]
    assert phrases and all(0 < at < piece.length for at in phrases)
    assert all(0 <= n.onset < piece.length and n.length > 0 for n in piece.notes)


def test_a_tune_of_an_abc_book_is_one_piece():
    ref = PieceRef("oneills1850/0001-0050.abc", 3)
    assert ref.id == "oneills1850/0001-0050.abc#3" and ref.collection == "oneills1850"
    piece = load_piece(ref, max_bars=8)
    assert piece.title == "The Little Heathy Hill" and len(piece.bars) == 8
    tunes = [p for p in catalogue(("oneills1850",)) if p.path == ref.path]
    assert len(tunes) > 40 and ref in tunes


def test_unusable_pieces_raise_a_piece_error():
    with pytest.raises(PieceError, match="no-such-piece.mxl"):
        load_piece(PieceRef("bach/no-such-piece.mxl"))
    with pytest.raises(FileNotFoundError, match="no such music21 corpus folder"):
        catalogue(("no-such-collection",))
