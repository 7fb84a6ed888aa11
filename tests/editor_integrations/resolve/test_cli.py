"""`muvi resolve ...` reaches editor_integrations through the `muvi.commands` entry point, not an import."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from editor_integrations.resolve import cli as resolve_cli
from muvi_plugin import cli as muvi_cli
from muvi_plugin.console import COMMANDS_GROUP

REPO = Path(__file__).resolve().parents[3]


def declared_commands() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["muvi-resolve"] == "editor_integrations.resolve.cli:main"
    return project["entry-points"][COMMANDS_GROUP]


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A real distribution on sys.path declaring the entry points pyproject.toml declares (what `pip install`
    writes), so `importlib.metadata` discovers them as it does after an install."""
    dist = tmp_path / "site" / "muvi_commands_under_test-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: muvi-commands-under-test\nVersion: 0\n")
    lines = [f"[{COMMANDS_GROUP}]"] + [f"{name} = {value}" for name, value in declared_commands().items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_muvi_resolve_install_is_discovered(installed, tmp_path, capsys):
    assert declared_commands() == {"resolve": "editor_integrations.resolve.cli:add_command"}
    assert muvi_cli.main(["resolve", "install", "--folder", str(tmp_path / "Scripts")]) == 0
    assert (tmp_path / "Scripts" / "Edit" / "muvi.py").is_file()
    assert "installed the Resolve script at" in capsys.readouterr().out


def test_without_the_entry_point_muvi_has_no_resolve_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        muvi_cli.main(["resolve", "install", "--dry-run"], commands_from=())
    assert exit_.value.code == 2 and "invalid choice: 'resolve'" in capsys.readouterr().err


def test_muvi_resolve_console_script_reports_bad_input_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.otio"
    assert resolve_cli.main(["score-otio", str(missing), "--out", str(tmp_path / "out.otio")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("muvi: error: ") and str(missing) in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
