"""The progress dialog: a small Fusion UIManager window inside Resolve, console lines without one.

Kept thin on purpose: it shows `(stage, fraction)` and sets a cancel flag, nothing else. The work runs on
a worker thread; the window polls the shared state with a UIManager timer, because UIManager widgets
must only be touched from the thread that runs its dispatcher loop.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

Work = Callable[[Callable[[str, float], None], threading.Event], str]
"""`work(progress, cancel) -> message to show at the end`; raises to report an error."""


class ConsoleProgress:
    """Progress as lines on a stream (Resolve's Console, or a terminal); Ctrl-C cancels."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._last: tuple[str, int] | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        now = (stage, int(fraction * 10))  # one line per stage and tenth: the Console does not redraw
        if now != self._last:
            self._last = now
            print(f"muvi: {stage} {fraction:4.0%}", file=self.stream, flush=True)

    def run(self, work: Work) -> str:
        cancel = threading.Event()
        try:
            message = work(self, cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise
        print(f"muvi: {message}", file=self.stream, flush=True)
        return message


class FusionDialog:
    """A window with a status line, a progress label and Cancel, built with Fusion's UIManager.

    Args:
        fusion: `resolve.Fusion()`.
        bmd: The `bmd` module Resolve gives scripts (for `UIDispatcher`).
    """

    def __init__(self, fusion: Any, bmd: Any) -> None:
        self.ui = fusion.UIManager
        self.dispatcher = bmd.UIDispatcher(self.ui)
        self.state: dict[str, Any] = {"stage": "starting", "fraction": 0.0, "done": None}

    def run(self, work: Work) -> str:
        ui, state, cancel = self.ui, self.state, threading.Event()
        window = self.dispatcher.AddWindow(
            {"ID": "muviScore", "WindowTitle": "muvi: score In/Out", "Geometry": [200, 200, 420, 110]},
            ui.VGroup(
                [
                    ui.Label({"ID": "status", "Text": "muvi: starting"}),
                    ui.Button({"ID": "cancel", "Text": "Cancel"}),
                ]
            ),
        )
        items = window.GetItems()

        def progress(stage: str, fraction: float) -> None:
            state["stage"], state["fraction"] = stage, fraction  # read by the timer, on the UI thread

        def worker() -> None:
            try:
                state["done"] = work(progress, cancel)
            except Exception as error:  # shown in the window; the dialog must not die silently
                state["done"] = f"error: {error}"

        def on_tick(event: Any) -> None:
            if state["done"] is not None:
                items["status"].Text = f"muvi: {state['done']}"
                items["cancel"].Text = "Close"
                timer.Stop()
            elif cancel.is_set():
                items["status"].Text = "muvi: cancelling..."  # until the work has cleaned up
            else:
                items["status"].Text = f"muvi: {state['stage']} {state['fraction']:.0%}"

        def on_cancel(event: Any) -> None:
            if state["done"] is None:
                cancel.set()
                items["status"].Text = "muvi: cancelling..."
            else:
                self.dispatcher.ExitLoop()

        timer = ui.Timer({"ID": "muviTick", "Interval": 200})
        self.dispatcher.On.muviTick.Timeout = on_tick
        window.On.cancel.Clicked = on_cancel
        window.On.muviScore.Close = lambda event: (cancel.set(), self.dispatcher.ExitLoop())
        threading.Thread(target=worker, daemon=True).start()
        timer.Start()
        window.Show()
        self.dispatcher.RunLoop()
        window.Hide()
        return str(state["done"] or "cancelled")


def progress_ui(resolve: Any, bmd: Any) -> ConsoleProgress | FusionDialog:
    """The Fusion dialog when UIManager is there, else console output."""
    try:
        fusion = resolve.Fusion()
        if bmd is not None and fusion is not None and getattr(fusion, "UIManager", None) is not None:
            return FusionDialog(fusion, bmd)
    except Exception:  # no Fusion page or an old Resolve: the console still works
        pass
    return ConsoleProgress()


__all__ = ["ConsoleProgress", "FusionDialog", "progress_ui"]
