"""The Fusion dialog's flow, against a minimal stand-in for UIManager (Resolve's own cannot run here).

`FakeUIManager` only records widgets and handlers; its `RunLoop` fires the timer and a scripted user, so
the test checks what the dialog does with them: progress shown, Cancel sets the flag, Close ends the loop.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from editor_integrations.resolve.ui import FusionDialog


class _Handlers(SimpleNamespace):
    def __getattr__(self, name: str) -> SimpleNamespace:  # `On.<ID>` exists for any ID, as in UIManager
        value = SimpleNamespace()
        setattr(self, name, value)
        return value


class FakeUIManager:
    """Widgets as plain objects with the properties the dialog sets."""

    def Label(self, props):
        return SimpleNamespace(**props)

    def Button(self, props):
        return SimpleNamespace(**props)

    def VGroup(self, children):
        return children

    def Timer(self, props):
        self.timer = SimpleNamespace(running=False, **props)
        self.timer.Start = lambda: setattr(self.timer, "running", True)
        self.timer.Stop = lambda: setattr(self.timer, "running", False)
        return self.timer


class FakeDispatcher:
    def __init__(self, ui: FakeUIManager, user) -> None:
        self.ui, self.user, self.On, self.seen = ui, user, _Handlers(), []
        self.running = False

    def AddWindow(self, props, children):
        items = {child.ID: child for child in children}
        self.window = SimpleNamespace(
            On=_Handlers(), GetItems=lambda: items, Show=lambda: None, Hide=lambda: None
        )
        self.items = items
        return self.window

    def RunLoop(self) -> None:
        self.running = True
        deadline = time.monotonic() + 10
        while self.running and time.monotonic() < deadline:
            if self.ui.timer.running:
                self.On.muviTick.Timeout(None)
            self.seen.append(self.items["status"].Text)
            self.user(self)
            time.sleep(0.01)

    def ExitLoop(self) -> None:
        self.running = False


def dialog(user) -> tuple[FusionDialog, FakeDispatcher]:
    ui = FakeUIManager()
    made = {}

    def dispatcher(manager):
        made["d"] = FakeDispatcher(manager, user)
        return made["d"]

    box = FusionDialog(SimpleNamespace(UIManager=ui), SimpleNamespace(UIDispatcher=dispatcher))
    return box, made["d"]


def close_when_done(d: FakeDispatcher) -> None:
    if d.items["cancel"].Text == "Close":
        d.window.On.cancel.Clicked(None)


def test_progress_then_the_result_then_close():
    box, d = dialog(close_when_done)
    go = threading.Event()

    def work(progress, cancel):
        progress("dit", 0.5)
        go.wait(0.3)
        return "placed on audio track 2"

    assert box.run(work) == "placed on audio track 2"
    assert "muvi: dit 50%" in d.seen and d.items["status"].Text == "muvi: placed on audio track 2"


def test_cancel_sets_the_flag_the_work_sees():
    def user(d: FakeDispatcher) -> None:
        if d.items["status"].Text == "muvi: waiting 0%":
            d.window.On.cancel.Clicked(None)  # the user presses Cancel while the work runs
            d.seen.append(d.items["status"].Text)
        close_when_done(d)

    box, d = dialog(user)

    def work(progress, cancel):
        progress("waiting", 0.0)
        return "cancelled; nothing was added" if cancel.wait(5) else "finished"

    assert box.run(work) == "cancelled; nothing was added"
    assert "muvi: cancelling..." in d.seen
