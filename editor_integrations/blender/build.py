"""Build the muvi Blender extension zip: the add-on, muvi's runtime wheel and its dependencies' wheels.

    python editor_integrations/blender/build.py [--out dist/blender] [--platform linux-x64 ...]
                                                [--wheels-from DIR] [--blender PATH]

Downloads (`pip download --only-binary=:all:`) the runtime's wheels for Python 3.11 for each platform —
onnxruntime, av, opentimelineio, pyloudnorm, pedalboard, scipy, tqdm — with their dependencies, except numpy:
Blender's own is used. pip resolves them together with the NumPy of the oldest Blender the manifest
promises (`BLENDER_NUMPY`), so every wheel chosen declares that it works with it (SciPy 1.16 and later need
NumPy 1.25: `No module named 'numpy.exceptions'` in Blender 4.2), and newer NumPys stay compatible.
`--wheels-from DIR` takes them from a folder instead (no network). muvi itself goes in as a wheel of
`muvi_plugin` alone. The zip is made by Blender's extension tool (`build --split-platforms`, then
`validate`): `blender --command extension` when a Blender executable is found, else the copy inside an
installed `bpy` module, else zipfile in the same layout. Needs network unless `--wheels-from` is given
(the tests use `--wheels-from`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PYTHON = "3.11"  # Blender 4.2 to 5.0 embed Python 3.11
RUNTIME = ["onnxruntime", "av", "opentimelineio", "pyloudnorm", "pedalboard", "scipy", "tqdm"]
# The NumPy each supported Blender bundles (series; patch releases vary). 4.2 and 4.3: 1.24 (the issue's
# report: 1.24.4 under bpy 4.2.23, whose wheel declares a bare `numpy`); 4.5 and 5.0: bpy declares
# numpy>=1.26,<2. The wheels are resolved against the oldest, which the newer ones run unchanged.
BLENDER_NUMPY = {"4.2": "1.24", "4.3": "1.24", "4.4": "1.26", "4.5": "1.26", "5.0": "1.26"}
# Blender platform -> pip platform tags. pip expands a macOS tag to the older macOS versions, but not a
# manylinux tag to the older glibc ones (opentimelineio ships manylinux_2_17 only): list those. Blender 4.2+
# needs glibc 2.28, so every wheel up to manylinux_2_28 runs in it.
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64"],
}
SKIP = re.compile(r"^numpy-", re.IGNORECASE)  # Blender ships numpy; a second copy would shadow it
ADDON_FILES = ["__init__.py", "actions.py", "compat.py", "jobs.py", "picture.py", "timeline.py"]
ADDON_FILES += ["ui.py", "blender_manifest.toml", "README.md"]


def _parsed_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Build the muvi Blender extension zip.")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "blender", help="output folder")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS), help="default: all three")
    parser.add_argument("--wheels-from", type=Path, default=None, help="take dependency wheels from here")
    parser.add_argument("--blender", default=shutil.which("blender"), help="Blender executable (optional)")
    return parser.parse_args(argv)


def runtime_wheel(folder: Path) -> Path:
    """A wheel of `muvi_plugin` alone (the runtime; no training or export code), written into `folder`.

    Built by hand rather than from pyproject.toml, whose wheel also carries `training/` and `export/`.
    """
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "muvi_plugin" / "__init__.py").read_text())[1]
    dist = f"muvi-{version}.dist-info"
    files = {
        p.relative_to(ROOT).as_posix(): p.read_bytes()
        for p in sorted((ROOT / "muvi_plugin").rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: muvi\nVersion: {version}\n".encode()
    files[f"{dist}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: muvi-build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    path = folder / f"muvi-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def oldest_numpy() -> str:
    """A requirement for the NumPy of the oldest Blender the manifest promises (`blender_version_min`)."""
    manifest = (HERE / "blender_manifest.toml").read_text()
    oldest = re.search(r'(?m)^blender_version_min = "(\d+)\.(\d+)', manifest)
    series = BLENDER_NUMPY[f"{oldest[1]}.{oldest[2]}"]
    return f"numpy=={series}.*"


def download_command(folder: Path, platform: str) -> list[str]:
    """`pip download` of the runtime's wheels for one Blender platform and Python 3.11, resolved with the
    oldest supported Blender's NumPy (whose own wheel is then left out of the extension)."""
    tags = [arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", *tags]
    return [*command, "--python-version", PYTHON, "--implementation", "cp", "-d", os.fspath(folder),
            *RUNTIME, oldest_numpy()]  # fmt: skip


def download(folder: Path, platform: str) -> None:
    """The runtime's wheels and their dependencies for one Blender platform (`download_command`)."""
    subprocess.run(download_command(folder, platform), check=True)


def stage(out: Path, platforms: list[str], wheels_from: Path | None) -> Path:
    """The extension's folder: add-on files, wheels/, and the manifest listing them."""
    folder = out / "muvi"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "wheels").mkdir(parents=True)
    for name in ADDON_FILES:
        shutil.copy2(HERE / name, folder / name)
    wheels = folder / "wheels"
    runtime_wheel(wheels)
    if wheels_from is not None:
        for wheel in wheels_from.glob("*.whl"):
            shutil.copy2(wheel, wheels / wheel.name)
    else:
        for platform in platforms:
            download(wheels, platform)
    for wheel in wheels.glob("*.whl"):
        if SKIP.match(wheel.name):
            wheel.unlink()
    names = sorted(f"./wheels/{w.name}" for w in wheels.glob("*.whl"))
    manifest = (folder / "blender_manifest.toml").read_text()
    manifest = re.sub(
        r"(?m)^wheels = \[\]$", "wheels = [\n" + "".join(f'  "{n}",\n' for n in names) + "]", manifest
    )
    manifest = re.sub(r"(?m)^platforms = .*$", f"platforms = {_toml_list(platforms)}", manifest)
    (folder / "blender_manifest.toml").write_text(manifest)
    return folder


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def extension_tool(blender: str | None) -> list[str] | None:
    """The command prefix of Blender's extension tool (`build`, `validate`), or None if there is none.

    A Blender executable runs it as `blender --command extension`; without one, the same tool ships inside
    the `bpy` module from PyPI (`scripts/addons_core/bl_pkg/cli/blender_ext.py`) and runs as a script.
    """
    if blender:
        return [blender, "--factory-startup", "--command", "extension"]
    spec = importlib.util.find_spec("bpy")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        for tool in sorted(Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")):
            return [sys.executable, os.fspath(tool)]
    return None


def package(folder: Path, out: Path, blender: str | None) -> list[Path]:
    """Zip the staged folder: with Blender's own builder when available (one zip per platform, validated)."""
    tool = extension_tool(blender)
    if tool is not None:
        build = [*tool, "build", "--source-dir", os.fspath(folder), "--output-dir", os.fspath(out)]
        subprocess.run([*build, "--split-platforms"], check=True)
        zips = sorted(out.glob("muvi-*.zip"))
        for made in zips:
            subprocess.run([*tool, "validate", os.fspath(made)], check=True)
        return zips
    manifest = (folder / "blender_manifest.toml").read_text()
    version = re.search(r'(?m)^version = "([^"]+)"', manifest)[1]
    path = out / f"muvi-{version}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return [path]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parsed_args(argv)
    platforms = args.platform or sorted(PLATFORMS)
    args.out.mkdir(parents=True, exist_ok=True)
    folder = stage(args.out, platforms, args.wheels_from)
    for path in package(folder, args.out, args.blender):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
