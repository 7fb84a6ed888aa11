"""`muvi resolve install`: the menu script lands in Resolve's per-user Scripts folder of each OS, and runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from editor_integrations.resolve import install as install_module
from editor_integrations.resolve.cli import main
from tests.editor_integrations.resolve.fake_resolve import FakeResolve

EXPECTED = {
    "Linux": (".local", "share", "DaVinciResolve", "Fusion", "Scripts"),
    "Darwin": ("Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts"),
    "Windows": ("AppData", "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts"),
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData"))
    return tmp_path


@pytest.mark.parametrize("system", sorted(EXPECTED))
@pytest.mark.parametrize("menu", ["Edit", "Utility"])
def test_dry_run_names_the_per_user_folder_and_writes_nothing(system, menu, home, monkeypatch, capsys):
    monkeypatch.setattr(install_module.platform, "system", lambda: system)
    assert main(["install", "--menu", menu, "--dry-run"]) == 0
    expected = home.joinpath(*EXPECTED[system], menu, "muvi.py")
    out = capsys.readouterr().out
    assert f"would install the Resolve script at {expected} " in out
    assert f"Workspace > Scripts > {menu} > muvi" in out
    assert list(home.iterdir()) == [], "a dry run writes nothing"


@pytest.mark.parametrize("system", sorted(EXPECTED))
def test_install_writes_the_script_there(system, home, monkeypatch):
    monkeypatch.setattr(install_module.platform, "system", lambda: system)
    target = install_module.install()
    assert target == home.joinpath(*EXPECTED[system], "Edit", "muvi.py") and target.is_file()


def test_folder_override_gets_a_script_that_finds_muvi(tmp_path, capsys):
    assert main(["install", "--folder", str(tmp_path / "Scripts")]) == 0
    script = tmp_path / "Scripts" / "Edit" / "muvi.py"
    assert f"installed the Resolve script at {script}" in capsys.readouterr().out
    text = script.read_text(encoding="utf-8")
    package_parent = Path(install_module.__file__).resolve().parents[2]
    assert f"MUVI_PATH = {str(package_parent)!r}" in text
    assert f"MUVI_COMMAND = {[sys.executable, '-m', 'muvi_plugin']!r}" in text
    assert not list(script.parent.glob(".*.part")), "written atomically"

    # Run it the way Resolve does: a plain file with `resolve` and `bmd` globals (here no project open).
    code = compile(text, str(script), "exec")
    exec(code, {"__name__": "__main__", "resolve": FakeResolve(project=False), "bmd": None})
    assert "no project is open" in capsys.readouterr().err


def test_unknown_menu_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Edit, Utility"):
        install_module.install(menu="Color", folder=tmp_path)
