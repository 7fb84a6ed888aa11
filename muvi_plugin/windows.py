"""Long ranges, window by window: the plan (in latent frames) and the equal-power join of the audio.

A range longer than the bundle's window is generated in windows. Each window after the first starts
`context` frames before the previous one ends and holds those frames at the previous window's generated
latents as clean context (MuVi Sec. 4.3: in-context continuation by partial denoising), so the music goes
on rather than starting over. The two windows then cover the overlap with (almost) the same music; their
audio is joined there with an equal-power crossfade, which hides the decoders' edge effects without a dip
in loudness. Pure functions, numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """One generation pass over latent frames `[start, end)` of the range.

    Attributes:
        index: Position in the plan (0 for the first); seeds this window's noise.
        start: First latent frame, counted from the start of the range.
        end: One past the last latent frame.
        context: Leading frames held at the previous window's latents (0 for the first window).
    """

    index: int
    start: int
    end: int
    context: int

    @property
    def frames(self) -> int:
        """Latent frames in the window, context included."""
        return self.end - self.start


def plan_windows(total: int, *, max_frames: int, context: int, prompt: int = 0) -> list[Window]:
    """Cover `total` latent frames with windows of at most `max_frames` frames.

    Args:
        total: Latent frames of the range.
        max_frames: Longest sequence the DiT runs in one pass, prompt and context frames included.
        context: Frames each later window shares with (and takes as clean context from) the previous one.
        prompt: Style-prompt frames prepended to the first window; they take room in it.

    Returns:
        The windows in order: the first starts at 0 with no context, each later one starts `context`
        frames before the previous one ends, and the last ends at `total`.

    Raises:
        ValueError: A length is not positive, or the windows could not advance (the window is not longer
            than the context, or the prompt leaves the first window no longer than the context).
    """
    if total < 1 or max_frames < 1 or context < 0 or prompt < 0:
        raise ValueError(
            f"need total >= 1, max_frames >= 1, context >= 0 and prompt >= 0, got "
            f"{total}, {max_frames}, {context}, {prompt}"
        )
    first = max_frames - prompt
    if first < 1:
        raise ValueError(f"a {prompt}-frame style prompt leaves no room in a {max_frames}-frame window")
    windows = [Window(0, 0, min(first, total), 0)]
    if total > first and (first <= context or max_frames <= context):
        raise ValueError(
            f"windows of {max_frames} frames ({first} after the style prompt) cannot advance past "
            f"{context} context frames"
        )
    while windows[-1].end < total:
        start = windows[-1].end - context
        windows.append(Window(len(windows), start, min(start + max_frames, total), context))
    return windows


def frames_for(seconds: float, rate: float) -> int:
    """Latent frames covering `seconds` at `rate` frames per second (a partial frame counts)."""
    return max(0, math.ceil(seconds * rate - 1e-6))


def equal_power_fade(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gains `(fade_out, fade_in)` over `n` samples with `fade_out**2 + fade_in**2 == 1` everywhere.

    Equal power (not equal gain) because the two sides are different renderings of the music, not copies:
    their sum's power stays constant across the fade, so there is no dip halfway.
    """
    phase = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.cos(phase).astype(np.float32), np.sin(phase).astype(np.float32)


def place_window(out: np.ndarray, audio: np.ndarray, *, at: int, overlap: int, fade: int) -> None:
    """Write one window's `audio` into `out` from sample `at`, joining it to what is there.

    The first `overlap` samples of `audio` cover the same time as `out[at : at + overlap]`, already
    written by the previous window. The previous audio is kept up to the middle of the overlap minus half
    the fade, this window's from the middle plus half the fade, and the `fade` samples between are an
    equal-power crossfade: the join sits as far as possible from both windows' edges.

    Args:
        out: The whole range's audio, written in place; samples past its end are dropped.
        audio: This window's audio, float32 `(samples,)`.
        at: Where `audio` starts in `out`.
        overlap: Samples shared with the previous window (0 for the first).
        fade: Crossfade length in samples; clamped to `overlap`.
    """
    fade = min(max(fade, 0), overlap)
    cut = at + (overlap - fade) // 2  # first sample of the crossfade in `out`
    fade_out, fade_in = equal_power_fade(fade)
    stop = min(len(out), at + len(audio))
    lo, hi = min(cut, stop), min(cut + fade, stop)
    own = audio[lo - at : hi - at]
    out[lo:hi] = out[lo:hi] * fade_out[: hi - lo] + own * fade_in[: hi - lo]
    out[hi:stop] = audio[hi - at : stop - at]
