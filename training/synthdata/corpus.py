"""Pieces from music21's bundled corpus, read into a plain score: notes, bars and phrase boundaries.

The corpus mixes single pieces (MusicXML, Humdrum) with ABC books holding many tunes each (O'Neill's 1850,
the Essen folk songs); a piece is one file, or one tune (`X:` number) of a book. Everything a rendering
needs is copied out of music21's objects into small frozen dataclasses, so the rest of the package never
touches music21 and a parsed piece pickles cheaply across worker processes.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

_BOOK_TUNE = re.compile(rb"^X:\s*(\d+)", re.MULTILINE)
# Barlines that end a section. Repeat signs are gone after `expandRepeats`, which leaves a double bar.
_SECTION_BARLINES = frozenset({"double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy"})
_SCORE_SUFFIXES = frozenset({".mxl", ".xml", ".musicxml", ".krn", ".abc"})  # not .rntxt: analyses


class PieceError(ValueError):
    """A corpus piece that cannot be used (fails to parse, is too large, or holds no notes)."""


class SkippedPieceWarning(UserWarning):
    """A corpus piece was left out of a rendering; another one took its place."""


@dataclass(frozen=True)
class PieceRef:
    """One piece of the corpus: a file relative to the corpus folder, and its tune number in an ABC book."""

    path: str
    number: int | None = None

    @property
    def id(self) -> str:
        """Stable name of the piece, e.g. ``bach/bwv1.6.mxl`` or ``essenFolksong/han1.abc#5``."""
        return self.path if self.number is None else f"{self.path}#{self.number}"

    @property
    def collection(self) -> str:
        """The corpus folder the piece is in (``bach``, ``ryansMammoth``, ...)."""
        return self.path.split("/", 1)[0]


@dataclass(frozen=True)
class ScoreNote:
    """A note of the score, in quarter lengths from the piece start."""

    onset: float
    length: float
    pitch: int
    part: int


@dataclass(frozen=True)
class Bar:
    """A measure: start and written length in quarter lengths, its time signature, and whether it is an
    anacrusis (pickup: shorter than its time signature, its beats counted back from its end)."""

    start: float
    length: float
    numerator: int
    denominator: int
    pickup: bool = False


@dataclass(frozen=True)
class Boundary:
    """A phrase or section boundary, in quarter lengths. kind: "section" (double bar, repeat, rehearsal
    mark, loop point) or "phrase" (fermata, or every few bars when the score marks nothing)."""

    at: float
    kind: str


@dataclass(frozen=True)
class PieceScore:
    """What a rendering needs from a piece. Parts are ordered as in the score; `part_pitches` is each
    part's median MIDI pitch (0 for an empty part), used to give parts roles (melody, inner, bass)."""

    id: str
    title: str
    notes: tuple[ScoreNote, ...]
    bars: tuple[Bar, ...]
    boundaries: tuple[Boundary, ...]
    part_names: tuple[str, ...]
    part_pitches: tuple[int, ...]
    key_tonic: int  # pitch class 0-11
    key_mode: str  # "major" or "minor"

    @property
    def length(self) -> float:
        """Quarter lengths from the start of the first bar to the end of the last."""
        return self.bars[-1].start + self.bars[-1].length - self.bars[0].start


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    import music21  # heavy (a second to import): only when a piece is read

    return Path(music21.__file__).parent / "corpus"


def catalogue(collections: tuple[str, ...], *, max_file_bytes: int = 400_000) -> list[PieceRef]:
    """Every piece of the given corpus folders, sorted: each file, or each tune of an ABC book.

    Args:
        collections: corpus folder names, e.g. ("bach", "ryansMammoth").
        max_file_bytes: single-piece files larger than this are left out (opera-length scores parse for
            minutes); ABC books are exempt, since only the one tune is parsed.
    """
    root = corpus_root()
    pieces = []
    for collection in collections:
        folder = root / collection
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such music21 corpus folder")
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in _SCORE_SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            numbers = _book_tunes(path) if path.suffix.lower() == ".abc" else []
            if len(numbers) > 1:
                pieces.extend(PieceRef(rel, number) for number in numbers)
            elif path.stat().st_size <= max_file_bytes:
                pieces.append(PieceRef(rel))
    return sorted(pieces, key=lambda piece: (piece.path, piece.number or 0))


def load_piece(ref: PieceRef, *, max_bars: int = 160) -> PieceScore:
    """Parse a piece, expand its repeats and copy out its first `max_bars` bars.

    Raises:
        PieceError: the file does not parse, or gives no bars or notes.
    """
    from music21 import converter, stream

    path = corpus_root() / ref.path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # music21 warns freely about encodings it tolerates
            parsed = converter.parse(path, number=ref.number, forceSource=True)
            if isinstance(parsed, stream.Opus):
                parsed = parsed.scores[0]
            # Cut before expanding repeats: music21's repeat expansion and note handling copy the whole
            # score, and a quartet movement's unplayed tail would cost seconds.
            _truncate(parsed, max_bars)
            try:
                score = parsed.expandRepeats()
            except Exception:  # a malformed repeat structure: play the piece as written
                score = parsed
            _truncate(score, max_bars)
            return _read_score(ref, score)
    except PieceError:
        raise
    except Exception as error:  # music21 raises many types on bad input
        raise PieceError(f"{ref.id}: does not parse ({type(error).__name__}: {error})") from error


def _book_tunes(path: Path) -> list[int]:
    return sorted({int(number) for number in _BOOK_TUNE.findall(path.read_bytes())})


def _truncate(score, max_bars: int) -> None:
    from music21 import stream

    for part in list(score.parts) or [score]:
        measures = list(part.getElementsByClass(stream.Measure))
        if len(measures) > max_bars:
            part.remove(measures[max_bars:])


def _read_score(ref: PieceRef, score) -> PieceScore:
    from music21 import stream

    parts = list(score.parts) or [score]
    measures = list(parts[0].getElementsByClass(stream.Measure))
    if not measures:
        raise PieceError(f"{ref.id}: no measures")
    bars = _bars(measures)
    end = bars[-1].start + bars[-1].length
    notes, fermatas = [], []
    for index, part in enumerate(parts):
        tied: dict[int, int] = {}  # pitch -> index in `notes` of the note a tie continues
        for element in part.flatten().notes:
            onset = float(element.offset)
            if onset >= end or element.duration.isGrace:
                continue
            length = min(float(element.quarterLength), end - onset)
            chord_tie = element.tie.type if element.tie is not None else None
            for member in element.notes if element.isChord else (element,):
                # Ties join notes here, not with music21's stripTies, which deep-copies the part.
                pitch = member.pitch
                tie = member.tie.type if member.tie is not None else chord_tie
                first = tied.get(pitch.midi)
                if tie in ("continue", "stop") and first is not None:
                    note = notes[first]
                    notes[first] = ScoreNote(note.onset, onset + length - note.onset, note.pitch, index)
                else:
                    first = len(notes)
                    notes.append(ScoreNote(onset, length, pitch.midi, index))
                if tie in ("start", "continue"):
                    tied[pitch.midi] = first
                else:
                    tied.pop(pitch.midi, None)
            if any(type(expression).__name__ == "Fermata" for expression in element.expressions):
                fermatas.append(onset + length)
    if not notes:
        raise PieceError(f"{ref.id}: no notes")
    notes.sort(key=lambda note: (note.onset, note.part, note.pitch))
    pitches = tuple(_median([n.pitch for n in notes if n.part == i]) for i in range(len(parts)))
    tonic, mode = _key(score)
    title = (score.metadata.title if score.metadata is not None else None) or ref.id
    return PieceScore(
        id=ref.id,
        title=str(title),
        notes=tuple(notes),
        bars=bars,
        boundaries=_boundaries(measures, bars, fermatas),
        part_names=tuple(str(part.partName or f"part {i + 1}") for i, part in enumerate(parts)),
        part_pitches=pitches,
        key_tonic=tonic,
        key_mode=mode,
    )


def _bars(measures: list) -> tuple[Bar, ...]:
    bars, signature = [], (4, 4)
    origin = float(measures[0].offset)
    for index, measure in enumerate(measures):
        if measure.timeSignature is not None:
            signature = (measure.timeSignature.numerator, measure.timeSignature.denominator)
        full = signature[0] * 4.0 / signature[1]
        written = float(measure.duration.quarterLength) or full
        short = written < full - 1e-6
        pickup = (index == 0 and (short or float(measure.paddingLeft) > 0)) or (
            # A short bar completing a short bar before it is the upbeat of a new phrase (a section
            # written as incomplete measures, a chorale's line ends).
            short and bars and bars[-1].length < full - 1e-6 and abs(bars[-1].length + written - full) < 1e-6
        )
        bars.append(Bar(float(measure.offset) - origin, written, *signature, pickup=pickup))
    # Measures written shorter than their offsets imply (a rest-less incomplete voice) leave gaps; the
    # next bar's offset is authoritative.
    for index in range(len(bars) - 1):
        gap = bars[index + 1].start - bars[index].start
        if gap > 0 and abs(gap - bars[index].length) > 1e-6:
            bar = bars[index]
            bars[index] = Bar(bar.start, gap, bar.numerator, bar.denominator, bar.pickup)
    return tuple(bars)


def _boundaries(measures: list, bars: tuple[Bar, ...], fermatas: list[float]) -> tuple[Boundary, ...]:
    from music21 import expressions

    end = bars[-1].start + bars[-1].length
    found: dict[float, str] = {}
    previous_number = None
    for measure, bar in zip(measures, bars, strict=True):
        number = measure.number
        # Expanded repeats restart the measure numbers: the music goes back to a section start.
        if previous_number is not None and number != previous_number + 1 and number <= previous_number:
            found[bar.start] = "section"
        previous_number = number
        if measure.getElementsByClass(expressions.RehearsalMark):
            found[bar.start] = "section"
        barline = measure.rightBarline
        if barline is not None and barline.type in _SECTION_BARLINES:
            found[bar.start + bar.length] = "section"
    for at in fermatas:
        found.setdefault(at, "phrase")
    inside = {at: kind for at, kind in found.items() if 0 < at < end - 1e-6}
    if len(inside) < len(bars) / 16:
        # Nothing (or little) marked: phrases of 4 long or 8 short bars, counted from the first full bar.
        first = 1 if bars[0].pickup else 0
        every = 4 if bars[first % len(bars)].length >= 3 else 8
        for bar in bars[first + every :: every]:
            inside.setdefault(bar.start, "phrase")
    merged: list[Boundary] = []
    for at in sorted(inside):
        if merged and at - merged[-1].at < 1.0:  # one boundary per beat or so; a section wins
            if inside[at] == "section":
                merged[-1] = Boundary(merged[-1].at, "section")
            continue
        merged.append(Boundary(at, inside[at]))
    return tuple(merged)


def _key(score) -> tuple[int, str]:
    try:
        key = score.analyze("key")
    except Exception:  # atonal or empty: any key will do for colouring
        return 0, "major"
    return key.tonic.pitchClass, "minor" if key.mode == "minor" else "major"


def _median(values: list[int]) -> int:
    return sorted(values)[len(values) // 2] if values else 0
