"""Model bundles: find, verify, and open one ONNX Runtime session per graph (numpy and onnxruntime only).

A bundle is a folder, or a `.zip` of one, holding `manifest.json` (`muvi_plugin.manifest`) and the graphs
it lists. Opening one verifies every graph's sha256 against the manifest before any graph is parsed, and
refuses a mismatch naming the file. Sessions run on the CPU or on CUDA; ONNX Runtime silently falls back to
the CPU when CUDA cannot start, so the provider a session really got is checked after creating it.

Wheels: the light `onnxruntime` package runs on the CPU only; CUDA users install `onnxruntime-gpu`
instead (it also has the CPU provider; the two must not be installed together).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from muvi_plugin.errors import BundleError, ChecksumError
from muvi_plugin.guard import input_problem
from muvi_plugin.manifest import GRAPH_NAMES, MANIFEST_NAME, Manifest, ManifestError, compute_bundle_id

DEVICES = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def default_bundle_path() -> Path:
    """Where the embedded default bundle lives inside the installed package."""
    return Path(__file__).resolve().parent / "default_bundle"


class _Files:
    """Read access to a bundle's files, whether it is a folder or a zip of one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._zip_prefix: str | None = None
        problem = input_problem(self.path, folder_ok=True)
        if problem == "no such file":
            raise BundleError(f"{self.path}: no such bundle folder or .zip")
        if problem is not None:  # a FIFO would block in `open` forever: refused before opening
            raise BundleError(f"{self.path}: {problem}")
        if self.path.is_dir():
            return
        if not zipfile.is_zipfile(self.path):
            raise BundleError(f"{self.path}: not a bundle (neither a folder nor a .zip)")
        with zipfile.ZipFile(self.path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MANIFEST_NAME]
        # A zip of a bundle folder holds `folder/manifest.json`; a zip of its contents `manifest.json`.
        candidates = [n for n in names if n.count("/") <= 1]
        if len(candidates) != 1:
            raise BundleError(
                f"{self.path}: expected one {MANIFEST_NAME} at the top of the zip, found {names}"
            )
        self._zip_prefix = candidates[0][: -len(MANIFEST_NAME)]

    @property
    def is_zip(self) -> bool:
        return self._zip_prefix is not None

    def where(self, name: str) -> str:
        """How a file of the bundle is named in messages: a path, or `archive.zip:member`."""
        if self._zip_prefix is None:
            return os.fspath(self.path / name)
        return f"{self.path}:{self._zip_prefix}{name}"

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """Read one file of the bundle; FileNotFoundError when it is not there."""
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"{self.where(name)}: file names in a bundle must stay inside it")
        if self._zip_prefix is None:
            problem = input_problem(self.path / name)
            if problem == "no such file":
                raise FileNotFoundError(self.where(name))
            if problem is not None:
                raise BundleError(f"{self.where(name)}: {problem}")
            with open(self.path / name, "rb") as f:
                yield f
            return
        with zipfile.ZipFile(self.path) as archive:
            try:
                member = archive.open(self._zip_prefix + name)
            except KeyError as error:
                raise FileNotFoundError(self.where(name)) from error
            with member as f:
                yield f

    def manifest(self) -> Manifest:
        where = self.where(MANIFEST_NAME)
        try:
            with self.open(MANIFEST_NAME) as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError as error:
            raise BundleError(f"{where}: no manifest (is {self.path} a muvi bundle?)") from error
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BundleError(f"{where}: unreadable manifest ({error})") from error
        try:
            manifest = Manifest.from_dict(data)
        except ManifestError as error:
            raise BundleError(f"{where}: {error}") from error
        check_bundle_id(data, where)
        return manifest

    def verified(self, name: str, sha256: str) -> bytes | Path:
        """The graph file after checking its sha256: a path for a folder, the bytes for a zip."""
        digest = hashlib.sha256()
        data = bytearray()
        try:
            with self.open(name) as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    if self.is_zip:
                        data += block
        except FileNotFoundError as error:
            raise ChecksumError(f"{self.where(name)}: graph file missing from the bundle") from error
        except zipfile.BadZipFile as error:  # the zip's own CRC check caught the corruption first
            raise ChecksumError(f"{self.where(name)}: corrupt ({error})") from error
        except OSError as error:
            raise BundleError(f"{self.where(name)}: unreadable ({error.strerror or error})") from error
        if digest.hexdigest() != sha256:
            raise ChecksumError(
                f"{self.where(name)}: checksum mismatch, the graph is corrupt or was modified "
                f"(sha256 {digest.hexdigest()[:16]}…, the manifest says {sha256[:16]}…)"
            )
        return bytes(data) if self.is_zip else self.path / name


def check_bundle_id(data: dict, where: str) -> None:
    """A manifest's id must be the one its content gives (`compute_bundle_id`): the id names the model.

    The id hashes the whole manifest as written but its id and provenance, graph checksums included, so
    an edited manifest (defaults removed, a window changed) no longer carries the id of the model it came
    from. A manifest without an id gets the computed one (`Bundle.bundle_id`).

    Args:
        data: `manifest.json` as read (not the dataclass: its defaults would hide a removed field).
        where: The manifest, for the message.

    Raises:
        ChecksumError: The id differs: the manifest was edited after export.
    """
    stored, computed = data.get("bundle_id") or "", compute_bundle_id(data)
    if stored and stored != computed:
        raise ChecksumError(
            f"{where}: bundle id {stored} does not match the manifest's content ({computed}): "
            "the manifest was edited after export; export the bundle again"
        )


def read_bundle_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """A bundle's manifest, without checking or loading its graphs.

    Args:
        path: A bundle folder or `.zip`; None for the embedded default bundle.

    Raises:
        BundleError: No bundle there, or a malformed manifest.
    """
    return _Files(_resolve(path)).manifest()


def verify_bundle(path: str | os.PathLike | None = None) -> Manifest:
    """Check a bundle's manifest and the sha256 of every graph it lists, without loading any graph.

    Args:
        path: A bundle folder or `.zip`; None for the embedded default bundle.

    Returns:
        The manifest.

    Raises:
        BundleError: No bundle there, or a malformed manifest.
        ChecksumError: A missing or corrupt graph (named).
    """
    files = _Files(_resolve(path))
    manifest = files.manifest()
    for name in GRAPH_NAMES:
        files.verified(manifest.graphs[name].file, manifest.graphs[name].sha256)
    return manifest


@dataclass(frozen=True)
class Bundle:
    """A verified bundle and one ONNX Runtime session per graph.

    Attributes:
        path: The bundle folder or zip.
        manifest: Its manifest.
        sessions: `onnxruntime.InferenceSession` per graph name (`muvi_plugin.manifest.GRAPH_NAMES`).
        provider: The execution provider every session runs on (`CPUExecutionProvider` or
            `CUDAExecutionProvider`), as checked after creating them.
        notes: Things the user should know, e.g. that "auto" fell back to the CPU.
    """

    path: Path
    manifest: Manifest
    sessions: dict
    provider: str
    notes: tuple[str, ...] = ()

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id or compute_bundle_id(self.manifest)

    @property
    def device(self) -> str:
        """The ONNX Runtime device type of the sessions, for IOBinding: "cuda" or "cpu"."""
        return "cuda" if self.provider == CUDA else "cpu"

    def input_dtypes(self, graph: str) -> dict[str, np.dtype]:
        """The numpy dtype of each input of a graph, as the session declares it (fp16 bundles differ)."""
        return {i.name: np.dtype(_ORT_DTYPES[i.type]) for i in self.sessions[graph].get_inputs()}

    def run(self, graph: str, **inputs: np.ndarray) -> list[np.ndarray]:
        """Run one graph on numpy inputs, cast to the graph's dtypes; float outputs come back float32."""
        dtypes = self.input_dtypes(graph)
        feeds = {k: np.ascontiguousarray(v, dtype=dtypes[k]) for k, v in inputs.items()}
        outputs = self.sessions[graph].run(None, feeds)
        return [o.astype(np.float32) if o.dtype == np.float16 else o for o in outputs]


def open_bundle(
    path: str | os.PathLike | None = None, *, device: str = "auto", threads: int | None = None
) -> Bundle:
    """Verify a bundle and open its graphs with ONNX Runtime.

    Args:
        path: A bundle folder or `.zip`; None for the embedded default bundle.
        device: "cpu", "cuda" (refused when ONNX Runtime cannot run CUDA), or "auto" (CUDA when it works,
            otherwise the CPU, with a note).
        threads: Intra-op threads per session; None lets ONNX Runtime choose (one per physical core).

    Returns:
        The opened bundle.

    Raises:
        BundleError: No bundle there, a malformed manifest, a missing or corrupt graph, a graph whose
            inputs and outputs differ from the manifest, CUDA asked for but not usable, or an fp16 bundle
            without CUDA.
    """
    ort = _onnxruntime()

    if device not in DEVICES:
        raise BundleError(f"device must be one of {DEVICES}, got {device!r}")
    if threads is not None and threads < 1:
        raise BundleError(f"threads must be at least 1, got {threads}")
    files = _Files(_resolve(path))
    manifest = files.manifest()
    graphs = {
        name: files.verified(manifest.graphs[name].file, manifest.graphs[name].sha256) for name in GRAPH_NAMES
    }

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # we check the provider ourselves; ORT's fallback warning is noise
    # No CPU arena: it grows in powers of two and never gives memory back, +45 MiB and a slow creep over
    # hundreds of scores in one process, for no measurable speed (benchmarks/soak.py, docs/benchmarks.md
    # "Soak"). Memory patterns stay on: they plan each run's buffers from its shapes.
    options.enable_cpu_mem_arena = False
    providers, notes = _providers(ort.get_available_providers(), device)
    if manifest.precision == "fp16" and CUDA not in providers:
        raise BundleError(f"{files.path}: an fp16 bundle runs only with CUDA; use the fp32 bundle on the CPU")
    sessions: dict = {}
    for name, graph in graphs.items():
        where = files.where(manifest.graphs[name].file)
        try:
            session = ort.InferenceSession(
                graph if isinstance(graph, bytes) else os.fspath(graph), options, providers=providers
            )
        except Exception as error:  # ORT raises its own classes, all unrelated to the bundle's fault
            raise BundleError(f"{where}: ONNX Runtime cannot load the graph ({error})") from error
        if CUDA in providers and session.get_providers()[0] != CUDA:
            if device == "cuda":
                raise BundleError(
                    f"{where}: CUDA was asked for, but ONNX Runtime could not start it (are the CUDA and "
                    f"cuDNN libraries that onnxruntime-gpu needs installed?) and fell back to the CPU"
                )
            notes.append("CUDA is installed but could not start; running on the CPU")
            providers = [CPU]
        _check_io(where, name, session, manifest)
        sessions[name] = session
    provider = providers[0]
    if manifest.precision == "fp16" and provider != CUDA:
        raise BundleError(f"{files.path}: an fp16 bundle runs only with CUDA; use the fp32 bundle on the CPU")
    return Bundle(
        path=files.path, manifest=manifest, sessions=sessions, provider=provider, notes=tuple(notes)
    )


def _onnxruntime():
    """Import ONNX Runtime with its telemetry off.

    ONNX Runtime (1.2x and later on Linux too) starts a telemetry client when its library loads: it writes
    `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` (a device id and an event database) and a `.ses` file
    in the temporary folder, and may upload events. `ORT_DISABLE_TELEMETRY=1` before the import stops all
    of it (a user's own setting of the variable is kept); `disable_telemetry_events()` covers a host that
    imported ONNX Runtime before muvi. Imported here, not at import time: the CLI's argument errors should
    not wait for it.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    disable = getattr(ort, "disable_telemetry_events", None)
    if disable is not None:
        disable()
    return ort


def _resolve(path: str | os.PathLike | None) -> Path:
    if path is not None:
        return Path(path)
    default = default_bundle_path()
    if not (default / MANIFEST_NAME).is_file():
        raise BundleError(f"{default}: no embedded default bundle in this install; pass a bundle folder")
    return default


def _providers(available: list[str], device: str) -> tuple[list[str], list[str]]:
    """Providers to ask for, CUDA first when wanted, and notes for the report."""
    if device == "cpu":
        return [CPU], []
    if CUDA in available:
        return [CUDA, CPU], []
    if device == "cuda":
        raise BundleError(
            "CUDA was asked for, but this onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu instead of onnxruntime)"
        )
    return [CPU], ["no CUDA provider in this onnxruntime; running on the CPU"]


def _check_io(where: str, name: str, session, manifest: Manifest) -> None:
    """The graph's input and output names must be the manifest's: the pipeline feeds them by name."""
    spec = manifest.graphs[name]
    found = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    wanted = ([t.name for t in spec.inputs], [t.name for t in spec.outputs])
    if sorted(found[0]) != sorted(wanted[0]) or found[1] != wanted[1]:
        raise BundleError(
            f"{where}: graph {name!r} has inputs {found[0]} and outputs {found[1]}, the manifest says "
            f"{wanted[0]} and {wanted[1]}"
        )
