"""The filmstrip: thumbnails of the video over a time ruler, on which the user drags the range to score."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

STRIP_HEIGHT = 90
RULER_HEIGHT = 28
_MIN_RANGE = 0.1  # seconds: a click without a drag must not make an empty range


class Filmstrip(QWidget):
    """Thumbnails, a ruler and a draggable range [start, end) in seconds.

    Signals:
        rangeChanged(start, end): while the user drags, and when `set_range` changes it.
    """

    rangeChanged = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration = 0.0
        self.start = 0.0
        self.end = 0.0
        self.thumbnails: list[QImage] = []
        self._anchor: float | None = None
        self.setMinimumHeight(STRIP_HEIGHT + RULER_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self.setToolTip("Drag across the filmstrip to choose the range to score")

    def sizeHint(self) -> QSize:
        return QSize(800, STRIP_HEIGHT + RULER_HEIGHT)

    def set_video(self, duration: float, thumbnails: list[QImage]) -> None:
        self.duration = duration
        self.thumbnails = thumbnails
        self.set_range(0.0, duration)

    def clear(self) -> None:
        self.duration = self.start = self.end = 0.0
        self.thumbnails = []
        self.update()

    def set_range(self, start: float, end: float) -> None:
        """Set the range, clamped to the video; emits `rangeChanged`."""
        start = min(max(0.0, start), self.duration)
        end = min(max(start, end), self.duration)
        self.start, self.end = start, end
        self.update()
        self.rangeChanged.emit(start, end)

    def time_at(self, x: float) -> float:
        """The time under pixel column `x`."""
        if self.width() <= 0 or self.duration <= 0:
            return 0.0
        return min(max(0.0, x / self.width() * self.duration), self.duration)

    def x_at(self, seconds: float) -> float:
        return 0.0 if self.duration <= 0 else seconds / self.duration * self.width()

    # The user drags from an anchor; the range spans the anchor and the pointer, whichever way they go.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.duration > 0:
            self._anchor = self.time_at(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._anchor is not None:
            t = self.time_at(event.position().x())
            self.set_range(min(self._anchor, t), max(self._anchor, t))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._anchor is not None:
            t = self.time_at(event.position().x())
            start, end = min(self._anchor, t), max(self._anchor, t)
            if end - start < _MIN_RANGE:  # a plain click: keep a usable range starting there
                start, end = self._anchor, min(self.duration, self._anchor + max(_MIN_RANGE, 5.0))
            self._anchor = None
            self.set_range(start, end)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        w = self.width()
        p.fillRect(self.rect(), QColor(32, 32, 36))
        if self.duration <= 0:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a video (Ctrl+O) or drop one here")
            return
        # Thumbnails tile the strip, each stretched to its slot (keeps the strip time-linear).
        n = len(self.thumbnails)
        for i, image in enumerate(self.thumbnails):
            slot = QRectF(i * w / n, 0, w / n, STRIP_HEIGHT)
            p.drawImage(slot, image)
        self._paint_ruler(p, w)
        # The range: dim outside it, outline it.
        x0, x1 = self.x_at(self.start), self.x_at(self.end)
        shade = QColor(0, 0, 0, 150)
        p.fillRect(QRectF(0, 0, x0, self.height()), shade)
        p.fillRect(QRectF(x1, 0, w - x1, self.height()), shade)
        p.setPen(QPen(QColor(255, 196, 0), 2))
        p.drawRect(QRectF(x0 + 1, 1, max(0.0, x1 - x0 - 2), self.height() - 2))

    def _paint_ruler(self, p: QPainter, w: int) -> None:
        top = STRIP_HEIGHT
        p.fillRect(QRectF(0, top, w, RULER_HEIGHT), QColor(48, 48, 54))
        # A tick step that leaves about 90 px between labels: 1, 2, 5 x 10^k seconds.
        raw = self.duration * 90 / max(1, w)
        base = 10 ** math.floor(math.log10(max(raw, 1e-3)))
        step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
        p.setPen(QColor(200, 200, 200))
        font = p.font()
        font.setPointSizeF(8)
        p.setFont(font)
        t = 0.0
        while t <= self.duration + 1e-9:
            x = self.x_at(t)
            p.drawLine(QPointF(x, top), QPointF(x, top + 8))
            label = _ruler_label(t, step)
            if x + 80 <= w:
                p.drawText(QPointF(x + 3, top + 21), label)
            t += step


def _ruler_label(seconds: float, step: float) -> str:
    """`M:SS` (or `H:MM:SS`), with tenths only when the ticks are closer than a second."""
    whole, fraction = divmod(round(seconds * 10), 10)
    hours, rest = divmod(whole, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
    return f"{text}.{fraction}" if step < 1 else text
