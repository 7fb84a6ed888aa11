"""Imports point one way: `editor_integrations -> muvi_plugin <- export -> training` (docs/architecture.md).

Every module's imports are read with `ast` (top-level, function-level, `TYPE_CHECKING` blocks, relative
imports, and `importlib.import_module("literal")`), without importing anything, and each is checked against
the rules of docs/architecture.md, "Packages". The same rules are written there in prose: change both.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The product's packages (installed, pyproject.toml) and the folders on top of them (never imported by one).
PRODUCT = ("muvi_plugin", "training", "export", "editor_integrations", "recipes")
ON_TOP = ("tests", "benchmarks", "tools")

# The torch-free shared core of the runtime: what training and export may use of muvi_plugin (the constants
# that define a bundle, the mel front end, clip cutting, media readers, the manifest schema, the error
# types, the atomic writer, the input/output guard, the settings' ranges and the picture's rhythm). It must
# itself import nothing else of muvi_plugin, so using it never drags the runtime in.
CORE = (
    "muvi_plugin",  # the package itself: __version__
    "muvi_plugin.constants",
    "muvi_plugin.errors",
    "muvi_plugin.clips",
    "muvi_plugin.mel",
    "muvi_plugin.media",
    "muvi_plugin.manifest",
    "muvi_plugin.atomic",
    "muvi_plugin.guard",
    "muvi_plugin.limits",
    "muvi_plugin.rhythm",
)
TORCH_WORLD = ("torch", "torchaudio", "torchvision", "transformers", "safetensors", "onnx")

# Importer package -> what it must not import (top-level names or dotted prefixes).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "muvi_plugin": ("training", "export", "editor_integrations", "recipes", *ON_TOP, *TORCH_WORLD),
    "training": ("export", "editor_integrations", "recipes", *ON_TOP),
    "export": ("editor_integrations", "recipes", *ON_TOP),
    "editor_integrations": ("training", "export", "recipes", *ON_TOP, *TORCH_WORLD),
    "recipes": ("editor_integrations", *ON_TOP),
}
# training and export may use only the core of muvi_plugin.
CORE_ONLY = ("training", "export")
# Within training: the stages (`training.tasks`) sit on top of the models; only the loop runs them. The part
# registry is `training.models.registry`, so export, metrics and benchmarks never reach up into the stages.
STAGES_USED_ONLY_BY = ("training.tasks", "training.loop", "training.recipe", "training.cli")

# The one known exception: the recipe of the default model runs training, export and the runtime's scorer.
# (importer module, imported prefix): moves to recipes/ (issue 15).
EXCEPTIONS = {
    ("training.recipe", "export"),  # moves to recipes/ (issue 15)
    ("training.recipe_eval", "muvi_plugin.api"),  # moves to recipes/ (issue 15)
    ("training.recipe_eval", "muvi_plugin.audio_io"),  # moves to recipes/ (issue 15)
}


@dataclass(frozen=True)
class Arrow:
    """`module` (in file `path`, at `line`) imports `target`."""

    module: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[Arrow]:
    """Every module `path` imports, resolved to absolute dotted names."""
    module = module_name(path, root)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    arrows = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # `from pkg import sub` may name a submodule: count `pkg.sub` (a prefix rule then still matches).
            targets = [f"{prefix}.{alias.name}" if alias.name != "*" else prefix for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        line = getattr(node, "lineno", 0)
        arrows += [Arrow(module, target, path.relative_to(root), line) for target in targets]
    return arrows


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def in_core(target: str) -> bool:
    """Whether `target` (a module, or a name imported from one) is in the runtime's shared core."""
    if target in ("muvi_plugin", "muvi_plugin.__version__"):
        return True
    return any(_under(target, core) for core in CORE if core != "muvi_plugin")


def wrong(arrow: Arrow) -> bool:
    """Whether `arrow` breaks a rule above (before exceptions)."""
    importer = arrow.module.split(".")[0]
    if any(_under(arrow.target, forbidden) for forbidden in FORBIDDEN[importer]):
        return True
    runtime = _under(arrow.target, "muvi_plugin")
    if importer in CORE_ONLY and runtime and not in_core(arrow.target):
        return True
    if arrow.module in CORE and runtime and not in_core(arrow.target):
        return True  # the core stays closed, so training using it never loads the runtime
    if _under(arrow.target, "training.tasks") and not any(
        _under(arrow.module, m) for m in STAGES_USED_ONLY_BY
    ):
        return True
    # Qt is the panel's alone (an extra that the editors' Pythons lack).
    return _under(arrow.target, "PySide6") and not _under(arrow.module, "muvi_plugin.panel")


def violations(root: Path) -> list[Arrow]:
    """Every import of the product's packages under `root` that breaks a rule (see `EXCEPTIONS`)."""
    return [
        arrow
        for folder in PRODUCT
        for path in sorted((root / folder).rglob("*.py"))
        for arrow in imports_of(path, root)
        if wrong(arrow)
    ]


def _excepted(arrow: Arrow) -> bool:
    return any(arrow.module == module and _under(arrow.target, prefix) for module, prefix in EXCEPTIONS)


def test_imports_point_one_way():
    wrong = [str(a) for a in violations(REPO) if not _excepted(a)]
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_every_exception_is_still_needed():
    # When training/recipe*.py move to recipes/, their exceptions must go too.
    found = {
        (module, prefix)
        for arrow in violations(REPO)
        for module, prefix in EXCEPTIONS
        if arrow.module == module and _under(arrow.target, prefix)
    }
    assert found == EXCEPTIONS, f"exceptions no longer used: {sorted(EXCEPTIONS - found)}"


def test_every_package_is_in_the_picture():
    # A new top-level package must be placed in the rules above (and in docs/architecture.md).
    found = sorted(p.parent.name for p in REPO.glob("*/__init__.py"))
    assert set(found) <= set(PRODUCT) | set(ON_TOP), found
    include = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    installed = {name.rstrip("*") for name in include["packages"]["find"]["include"]}
    assert installed <= set(PRODUCT), "on-top folders (tests, benchmarks, tools) are never installed"


@pytest.mark.parametrize(
    ("module", "source", "caught"),
    [
        ("muvi_plugin/api.py", "def f():\n    import torch\n", "torch"),
        (
            "muvi_plugin/cli.py",
            "from editor_integrations.resolve import install\n",
            "editor_integrations.resolve.install",
        ),
        ("muvi_plugin/timeline/x.py", "from ...training import loop\n", "training.loop"),
        ("muvi_plugin/mel.py", "from muvi_plugin.api import load_bundle\n", "muvi_plugin.api.load_bundle"),
        (
            "training/loop.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import export\n",
            "export",
        ),
        ("training/data/x.py", "from muvi_plugin.panel import app\n", "muvi_plugin.panel.app"),
        ("training/x.py", "from muvi_plugin import api\n", "muvi_plugin.api"),
        ("export/graphs.py", "import importlib\nimportlib.import_module('recipes.demo')\n", "recipes.demo"),
        ("editor_integrations/blender/jobs.py", "from training.models import dit\n", "training.models.dit"),
        ("muvi_plugin/timeline/batch.py", "from PySide6 import QtCore\n", "PySide6.QtCore"),
        ("export/bundle.py", "from training.tasks.base import load_part\n", "training.tasks.base.load_part"),
        ("training/metrics/sim.py", "from training.tasks import base\n", "training.tasks.base"),
    ],
)
def test_a_wrong_arrow_is_caught(tmp_path, module, source, caught):
    # The checker itself: a tree with one import the wrong way fails, naming it.
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    for folder in PRODUCT:
        (tmp_path / folder).mkdir(exist_ok=True)
    assert [a.target for a in violations(tmp_path)] == [caught]


def test_allowed_arrows_pass(tmp_path):
    allowed = {
        "training/checkpoint.py": "from muvi_plugin import __version__\nimport torch\n",
        "training/data/music.py": "from muvi_plugin.media import read_audio\nfrom muvi_plugin import clips\n",
        "export/bundle.py": "from training.models.registry import build_part\nfrom muvi_plugin import mel\n",
        "training/loop.py": "from training.tasks import get_task\n",
        "editor_integrations/otio/hook.py": "from muvi_plugin.timeline.score import score_timeline\n",
        "muvi_plugin/panel/app.py": "from PySide6.QtWidgets import QApplication\n",
        "muvi_plugin/mel.py": "from muvi_plugin.constants import SAMPLE_RATE\n",
        "recipes/demo.py": "from export.bundle import write\nfrom muvi_plugin.api import load_bundle\n",
    }
    for module, source in allowed.items():
        path = tmp_path / module
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    for folder in PRODUCT:
        (tmp_path / folder).mkdir(exist_ok=True)
    assert violations(tmp_path) == []
