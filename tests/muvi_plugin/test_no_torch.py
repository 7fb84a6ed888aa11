"""The runtime must install into Blender's or Resolve's Python without torch (docs/architecture.md)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME_MODULES = sorted(
    ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for p in (REPO / "muvi_plugin").rglob("*.py")
    if p.stem != "__init__" or p.parent.name != "muvi_plugin"
)


@pytest.mark.parametrize("module", ["muvi_plugin", *RUNTIME_MODULES])
def test_importing_the_runtime_never_loads_torch(module: str) -> None:
    code = f"import sys, importlib; importlib.import_module({module!r}); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False", f"importing {module} loaded torch"
