"""Host libraries the tests need (bpy, PySide6, torch...): skipped on a developer's machine without them,
a failure in CI.

`require("bpy")` is `pytest.importorskip("bpy")`, except where the `CI` environment variable is set (as
GitHub Actions and most CI services set it) or `MUVI_REQUIRE_HOSTS=1`: there a missing library fails the
tests that need it, naming it, so a CI image that lost a host library cannot pass by skipping them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def strict() -> bool:
    """Whether a missing host library is a failure here (CI, or MUVI_REQUIRE_HOSTS=1)."""
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return ci or os.environ.get("MUVI_REQUIRE_HOSTS", "") == "1"


def require(name: str, *, extra: str | None = None) -> ModuleType:
    """Import `name`, or skip (a developer's machine) or fail (CI) the tests that need it.

    `extra` names the pyproject extra that installs it (None: one of the runtime's own dependencies).
    """
    how = f"install the {extra!r} extra" if extra else "it is a dependency of muvi's runtime"
    if not strict():
        return pytest.importorskip(name, reason=f"{name} is not installed ({how})")
    try:
        return importlib.import_module(name)
    except ImportError as error:
        pytest.fail(f"{name} is not installed, and CI needs it ({how}): {error}", pytrace=False)
