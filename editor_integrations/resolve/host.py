"""The small part of Resolve's scripting API that muvi uses, as Protocols, and how to reach it.

Everything in this package talks to Resolve through these interfaces only, so the logic is testable with a
fake (tests/editor_integrations/resolve/fake_resolve.py). Frame bases follow Resolve's documentation
(docs/hosts.md, "DaVinci Resolve"): `GetMarkInOut` and `AddMarker` are relative to the timeline start; render
`MarkIn`/`MarkOut` and `AppendToTimeline`'s `recordFrame` are absolute (add `GetStartFrame()`).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path
from typing import Any, Protocol


class ResolveScriptError(RuntimeError):
    """Something the user must fix in Resolve (no scripting module, no project, ...); one clear line."""


class MediaPoolItem(Protocol):
    def GetName(self) -> str: ...


class Folder(Protocol):
    def GetName(self) -> str: ...
    def GetSubFolderList(self) -> list[Folder]: ...


class TimelineItem(Protocol):
    def GetName(self) -> str: ...
    def GetStart(self) -> int: ...
    def GetDuration(self) -> int: ...


class MediaPool(Protocol):
    def GetRootFolder(self) -> Folder: ...
    def AddSubFolder(self, folder: Folder, name: str) -> Folder | None: ...
    def SetCurrentFolder(self, folder: Folder) -> bool: ...
    def ImportMedia(self, paths: list[str]) -> list[MediaPoolItem]: ...
    def AppendToTimeline(self, clip_infos: list[dict[str, Any]]) -> list[TimelineItem]: ...


class Timeline(Protocol):
    def GetName(self) -> str: ...
    def GetStartFrame(self) -> int: ...
    def GetEndFrame(self) -> int: ...
    def GetSetting(self, name: str) -> str: ...
    def GetMarkInOut(self) -> dict[str, dict[str, int]]: ...
    def SetMarkInOut(self, mark_in: int, mark_out: int, type: str = "all") -> bool: ...
    def ClearMarkInOut(self, type: str = "all") -> bool: ...
    def AddTrack(self, track_type: str, sub_track_type: str = "") -> bool: ...
    def GetTrackCount(self, track_type: str) -> int: ...
    def GetItemListInTrack(self, track_type: str, index: int) -> list[TimelineItem]: ...
    def DeleteClips(self, items: list[TimelineItem], ripple: bool = False) -> bool: ...
    def AddMarker(
        self, frame_id: int, color: str, name: str, note: str, duration: int, custom_data: str = ""
    ) -> bool: ...


class Project(Protocol):
    def GetName(self) -> str: ...
    def GetMediaPool(self) -> MediaPool: ...
    def GetCurrentTimeline(self) -> Timeline | None: ...
    def SetRenderSettings(self, settings: dict[str, Any]) -> bool: ...
    def AddRenderJob(self) -> str: ...
    def StartRendering(self, job_ids: list[str]) -> bool: ...
    def StopRendering(self) -> None: ...
    def IsRenderingInProgress(self) -> bool: ...
    def GetRenderJobStatus(self, job_id: str) -> dict[str, Any]: ...
    def DeleteRenderJob(self, job_id: str) -> bool: ...


class ProjectManager(Protocol):
    def GetCurrentProject(self) -> Project | None: ...


class Resolve(Protocol):
    def GetProjectManager(self) -> ProjectManager: ...


OTIO_ROUTE = (
    "use the OTIO route instead: File > Export > Timeline... as .otio, then "
    "`muvi resolve score-otio TIMELINE.otio --out SCORED.otio`, then File > Import > Timeline... "
    "(editor_integrations/resolve/README.md)"
)


def default_script_api(system: str | None = None) -> Path:
    """Where Resolve installs its scripting API (`RESOLVE_SCRIPT_API`), per OS."""
    system = system or platform.system()
    if system == "Windows":
        base = Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData"))
        return base / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Developer" / "Scripting"
    if system == "Darwin":
        return Path("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting")
    return Path("/opt/resolve/Developer/Scripting")


def import_scripting_module() -> Any:
    """`DaVinciResolveScript`, from `sys.path` or `$RESOLVE_SCRIPT_API/Modules`.

    Raises:
        ResolveScriptError: It cannot be found; the message names the environment variables to set.
    """
    api = os.environ.get("RESOLVE_SCRIPT_API") or os.fspath(default_script_api())
    modules = os.path.join(api, "Modules")
    if os.path.isdir(modules) and modules not in sys.path:
        sys.path.append(modules)  # appended: Resolve's own module must not shadow anything else
    try:
        return importlib.import_module("DaVinciResolveScript")
    except ImportError as error:
        raise ResolveScriptError(
            f"cannot import DaVinci Resolve's scripting module DaVinciResolveScript ({error}). Run muvi from "
            "Workspace > Scripts inside Resolve, or set RESOLVE_SCRIPT_API (e.g. "
            f"{default_script_api()}), RESOLVE_SCRIPT_LIB (fusionscript.so/.dll) and add "
            "$RESOLVE_SCRIPT_API/Modules to PYTHONPATH; external scripting needs DaVinci Resolve Studio"
        ) from error


def connect(resolve: Resolve | None = None) -> Resolve:
    """The running Resolve: the `resolve` global inside Resolve, else through `DaVinciResolveScript`.

    Raises:
        ResolveScriptError: No scripting module, or `scriptapp("Resolve")` returned None (Resolve is not
            running, or this edition does not allow scripting: the message points to the OTIO route).
    """
    if resolve is not None:
        return resolve
    app = import_scripting_module().scriptapp("Resolve")
    if app is None:
        raise ResolveScriptError(
            'scriptapp("Resolve") returned None: DaVinci Resolve is not running, or this edition does not '
            "allow scripting from outside (Studio only; the free edition 21.1+ has no Python scripting); "
            + OTIO_ROUTE
        )
    return app


def current_timeline(resolve: Resolve) -> tuple[Project, Timeline]:
    """The open project and its current timeline.

    Raises:
        ResolveScriptError: No project, or no timeline, is open.
    """
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise ResolveScriptError(
            "no project is open in DaVinci Resolve: open one and its timeline, then run muvi"
        )
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise ResolveScriptError(
            f"project {project.GetName()!r} has no open timeline: open the timeline to score, then run muvi"
        )
    return project, timeline


__all__ = ["OTIO_ROUTE", "ResolveScriptError", "connect", "current_timeline", "import_scripting_module"]
