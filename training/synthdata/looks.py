"""Procedural pictures for the synthetic videos: tiling textures, palettes and anti-aliased shapes.

Textures are square and periodic (they tile), so a camera can pan across them forever by wrapping its
coordinates. All of it is vectorised numpy over whole images; nothing loops over pixels.
"""

from __future__ import annotations

import numpy as np

TEXTURES = ("noise", "stripes", "checker", "gradient", "blobs", "rings", "plasma", "cells")
SHAPES = ("circle", "square", "triangle", "ring", "star", "bar")


def texture(kind: str, size: int, *, rng: np.random.Generator) -> np.ndarray:
    """A periodic float32 (size, size) image with values in [0, 1]. `size` should be a power of two."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    tau = 2 * np.pi / size
    if kind == "noise":
        image = sum(
            _value_noise(size, cells, rng=rng) / (2**octave)
            for octave, cells in enumerate((4, 8, 16, 32)[: int(rng.integers(2, 5))])
        )
    elif kind == "stripes":
        kx, ky = _direction(rng)
        wave = np.sin(tau * (kx * x + ky * y) + rng.uniform(0, 2 * np.pi))
        image = np.clip(wave * rng.choice([1.0, 4.0, 20.0]), -1, 1)  # soft to hard edges
    elif kind == "checker":
        cell = int(rng.choice([8, 16, 32]))
        diamonds = rng.random() < 0.5  # periodic too, as size / cell is even
        image = ((x + y) // cell + (x - y) // cell) % 2 if diamonds else (x // cell + y // cell) % 2
    elif kind == "gradient":
        kx, ky = rng.integers(0, 2, 2) if rng.random() < 0.7 else (1, 1)
        image = np.cos(tau * (kx * x + ky * y) + rng.uniform(0, 2 * np.pi)) + 0.3 * _value_noise(
            size, 4, rng=rng
        )
    elif kind == "blobs":
        image = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(4, 12))):
            d2 = _torus_distance2(x, y, rng.uniform(0, size, 2), size)
            image += np.exp(-d2 / (2 * rng.uniform(8, 40) ** 2)).astype(np.float32)
    elif kind == "rings":
        d = np.sqrt(_torus_distance2(x, y, rng.uniform(0, size, 2), size))
        image = np.sin(d * 2 * np.pi / rng.uniform(6, 30))
    elif kind == "plasma":
        image = sum(
            np.sin(tau * (kx * x + ky * y) + rng.uniform(0, 2 * np.pi))
            for kx, ky in (_direction(rng, largest=3) for _ in range(4))
        )
    elif kind == "cells":
        points = rng.uniform(0, size, (int(rng.integers(6, 20)), 2))
        distances = np.stack([_torus_distance2(x, y, p, size) for p in points])
        nearest = np.argmin(distances, axis=0)
        image = rng.random(len(points))[nearest] * 0.8 + 0.2 * np.sqrt(distances.min(axis=0)) / size * 4
    else:
        raise ValueError(f"texture must be one of {TEXTURES}, got {kind!r}")
    image = np.asarray(image, np.float32)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """An RGB colour (float32, 0-1) from hue in degrees, saturation and value in 0-1."""
    h = (hue % 360.0) / 60.0
    c = value * saturation
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return np.array(rgb, np.float32) + np.float32(value - c)


def palette(hue: float, *, rng: np.random.Generator) -> np.ndarray:
    """Three colours (3, 3) around `hue`: a dark, a mid and a light one, the mid one in a related hue."""
    # Mostly analogous colours, so the shot keeps the hue the music chose; sometimes a complement.
    partner = hue + rng.choice([0.0, 30.0, -30.0, 180.0], p=[0.3, 0.25, 0.25, 0.2])
    return np.stack(
        [
            hsv(hue, rng.uniform(0.5, 1.0), rng.uniform(0.08, 0.35)),
            hsv(partner, rng.uniform(0.4, 1.0), rng.uniform(0.4, 0.75)),
            hsv(hue + rng.uniform(-20, 20), rng.uniform(0.1, 0.6), rng.uniform(0.75, 1.0)),
        ]
    )


def colourise(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] through a piecewise-linear ramp of `colours` (k, 3): float32 (..., 3)."""
    position = values * (len(colours) - 1)
    low = np.minimum(position.astype(np.int64), len(colours) - 2)
    frac = (position - low)[..., None]
    return (colours[low] * (1 - frac) + colours[low + 1] * frac).astype(np.float32)


def shape_alpha(
    kind: str, x: np.ndarray, y: np.ndarray, *, centre: tuple[float, float], radius: float, angle: float
) -> np.ndarray:
    """Coverage (0-1, one pixel of anti-aliasing) of a shape over pixel coordinates `x`, `y`.

    Args:
        kind: one of `SHAPES`.
        x, y: pixel-centre coordinates (broadcastable arrays).
        centre: shape centre (x, y) in pixels.
        radius: half the shape's size in pixels.
        angle: rotation in radians.
    """
    dx, dy = x - centre[0], y - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    if kind == "circle":
        distance = np.sqrt(u * u + v * v) - radius
    elif kind == "square":
        distance = np.maximum(np.abs(u), np.abs(v)) - radius * 0.85
    elif kind == "bar":
        distance = np.maximum(np.abs(u) - radius * 1.3, np.abs(v) - radius * 0.35)
    elif kind == "ring":
        distance = np.abs(np.sqrt(u * u + v * v) - radius * 0.8) - radius * 0.22
    elif kind == "triangle":
        # Distance to the three edges of an equilateral triangle with inradius radius / 2.
        edges = [np.cos(a) * u + np.sin(a) * v for a in (np.pi / 2, np.pi / 2 + 2.094, np.pi / 2 + 4.189)]
        distance = np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - radius * 0.5
    elif kind == "star":
        theta = np.arctan2(v, u)
        reach = radius * (0.6 + 0.4 * np.cos(5 * theta))
        distance = np.sqrt(u * u + v * v) - reach
    else:
        raise ValueError(f"shape must be one of {SHAPES}, got {kind!r}")
    return np.clip(0.5 - distance, 0.0, 1.0).astype(np.float32)


def _value_noise(size: int, cells: int, *, rng: np.random.Generator) -> np.ndarray:
    """Smooth periodic noise: a random `cells` x `cells` grid, interpolated (smoothstep) to `size`."""
    grid = rng.random((cells, cells)).astype(np.float32)
    u = np.arange(size, dtype=np.float32) * cells / size
    i0 = u.astype(np.int64) % cells
    i1 = (i0 + 1) % cells
    f = u - np.floor(u)
    f = f * f * (3 - 2 * f)
    top = grid[i0][:, i0] * (1 - f)[None, :] + grid[i0][:, i1] * f[None, :]
    bottom = grid[i1][:, i0] * (1 - f)[None, :] + grid[i1][:, i1] * f[None, :]
    return top * (1 - f)[:, None] + bottom * f[:, None]


def _direction(rng: np.random.Generator, largest: int = 6) -> tuple[int, int]:
    while True:
        kx, ky = (int(k) for k in rng.integers(-largest, largest + 1, 2))
        if kx or ky:
            return kx, ky


def _torus_distance2(x: np.ndarray, y: np.ndarray, point, size: int) -> np.ndarray:
    dx = np.abs(x - point[0])
    dy = np.abs(y - point[1])
    dx = np.minimum(dx, size - dx)
    dy = np.minimum(dy, size - dy)
    return dx * dx + dy * dy
