"""`muvi resolve install`: put the menu script into Resolve's per-user Scripts folder.

Folders (docs/hosts.md, "DaVinci Resolve"): Linux `~/.local/share/DaVinciResolve/Fusion/Scripts/<menu>`,
Windows `%APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts\\<menu>`, macOS
`~/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/<menu>`. The menu is
`Edit` (Workspace > Scripts > Edit, on the Edit page) or `Utility` (every page).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import editor_integrations
from muvi_plugin.atomic import write_text

MENUS = ("Edit", "Utility")
SCRIPT_NAME = "muvi.py"
TEMPLATE = Path(__file__).with_name("menu_script.py")


def scripts_folder(system: str | None = None) -> Path:
    """Resolve's per-user Fusion `Scripts` folder on this OS (`system` as `platform.system()` names it)."""
    system = system or platform.system()
    if system == "Windows":
        appdata = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts"
    if system == "Darwin":
        support = Path.home() / "Library" / "Application Support"
        return support / "Blackmagic Design" / "DaVinci Resolve" / "Fusion" / "Scripts"
    return Path.home() / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts"


def muvi_command() -> list[str]:
    """This interpreter running muvi: the one that has numpy, ONNX Runtime and the bundle."""
    return [sys.executable, "-m", "muvi_plugin"]


def script_text(*, muvi_path: str, command: Sequence[str]) -> str:
    """The menu script with its settings filled in."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace('MUVI_PATH = ""', f"MUVI_PATH = {muvi_path!r}", 1)
    return text.replace("MUVI_COMMAND = []", f"MUVI_COMMAND = {list(command)!r}", 1)


def install(
    *, menu: str = "Edit", folder: Path | None = None, dry_run: bool = False, system: str | None = None
) -> Path:
    """Write the menu script to `<Scripts folder or folder>/<menu>/muvi.py` and return that path.

    Args:
        menu: "Edit" or "Utility".
        folder: A Scripts folder to use instead of the OS's (tests, portable installs).
        dry_run: Only say where it would go.
        system: The OS as `platform.system()` names it; None for this one.
    """
    if menu not in MENUS:
        raise ValueError(f"menu must be one of {', '.join(MENUS)}, got {menu!r}")
    target = (folder if folder is not None else scripts_folder(system)) / menu / SCRIPT_NAME
    if dry_run:
        return target
    package_parent = str(Path(editor_integrations.__file__).resolve().parent.parent)
    text = script_text(muvi_path=package_parent, command=muvi_command())
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, text)  # atomic: Resolve never sees half a script
    return target


__all__ = ["MENUS", "SCRIPT_NAME", "install", "scripts_folder", "script_text"]
