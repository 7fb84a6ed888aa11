"""Reaching Resolve: clear messages without the scripting module or with a `scriptapp` that says no."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from editor_integrations.resolve import host
from editor_integrations.resolve.ui import ConsoleProgress, progress_ui
from tests.editor_integrations.resolve.fake_resolve import FakeResolve

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_module(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "api"))
    return tmp_path / "api"


def test_missing_scripting_module_names_the_variables(no_module):
    with pytest.raises(host.ResolveScriptError) as error:
        host.connect()
    for needed in ("DaVinciResolveScript", "RESOLVE_SCRIPT_API", "RESOLVE_SCRIPT_LIB", "Workspace > Scripts"):
        assert needed in str(error.value)


def test_scriptapp_none_points_to_the_otio_route(no_module, monkeypatch):
    modules = no_module / "Modules"
    modules.mkdir(parents=True)
    (modules / "DaVinciResolveScript.py").write_text("def scriptapp(name):\n    return None\n")
    monkeypatch.setattr(sys, "path", list(sys.path))  # connect appends $RESOLVE_SCRIPT_API/Modules
    with pytest.raises(host.ResolveScriptError, match="edition does not allow") as error:
        host.connect()
    assert "muvi resolve score-otio" in str(error.value) and "File > Import > Timeline" in str(error.value)


def test_the_resolve_global_is_used_as_is():
    fake = FakeResolve()
    assert host.connect(fake) is fake


def test_what_runs_inside_resolve_needs_only_the_standard_library_and_the_host_client():
    # Resolve's Python cannot install numpy: the in-Resolve modules import the standard library and the
    # protocol's client (muvi_plugin.host, itself standard library only), nothing else.
    code = (
        "import sys; sys.modules['numpy'] = None; before = set(sys.modules)\n"
        "import editor_integrations.resolve.run, editor_integrations.resolve.session\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('muvi_plugin')))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    top, runtime = run.stdout.splitlines()
    assert top == str(["editor_integrations", "muvi_plugin"])
    assert runtime == str(["muvi_plugin", "muvi_plugin.errors", "muvi_plugin.host"])


def test_console_output_without_uimanager():
    fake = FakeResolve()  # no Fusion() at all: an old Resolve, or a test
    ui = progress_ui(fake, bmd=None)
    assert isinstance(ui, ConsoleProgress)
    ui.stream = io.StringIO()
    assert ui.run(lambda progress, cancel: (progress("dit", 0.5), "done")[1]) == "done"
    assert ui.stream.getvalue().splitlines() == ["muvi: dit  50%", "muvi: done"]
