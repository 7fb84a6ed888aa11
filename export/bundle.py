"""The bundle writer: every graph, verified, plus `manifest.json`, written atomically.

A bundle is built in a temporary sibling folder and renamed into place only once every graph is exported,
checked and compared with PyTorch and the manifest is written, so a failed or interrupted export leaves
nothing at `out_dir` (docs/architecture.md, "Errors and safety").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import onnx
import onnxruntime
import torch
from torch import nn

from export import fp16
from export.graphs import check_parts, graph_defs, typed_parts
from export.onnx_io import EXPORTER, OPSET, export_graph, graph_spec, sha256_file
from export.verify import verify_graphs
from muvi_plugin.atomic import atomic_path
from muvi_plugin.constants import VIDEO_FPS
from muvi_plugin.manifest import (
    GRAPH_NAMES,
    MANIFEST_NAME,
    AudioSpec,
    Defaults,
    LatentSpec,
    Manifest,
    VideoSpec,
    compute_bundle_id,
)
from muvi_plugin.mel import MelSpec
from training import checkpoint as ckpt
from training.models.registry import build_part, load_part

PRECISIONS = ("fp32", "fp16")
V2M_PARTS = ("dit", "vae", "visual_encoder", "adaptor")


class CheckpointError(ValueError):
    """A checkpoint that does not hold the model parts an export needs."""


def export_bundle(
    parts: dict[str, nn.Module],
    out_dir: str | Path,
    *,
    name: str,
    provenance: dict[str, Any],
    precision: str = "fp32",
    defaults: Defaults = Defaults(),  # noqa: B008 (frozen, so one shared default is safe)
    verify: bool = True,
    overwrite: bool = False,
    seed: int = 0,
) -> Path:
    """Export `parts` to a bundle folder: one ONNX file per graph and `manifest.json`.

    Args:
        parts: `visual_encoder`, `adaptor`, `dit`, `vae`, `vocoder` (checkpoint part names). They are put
            in eval mode; the vocoder is copied before its weight norm is folded in.
        out_dir: The bundle folder to create. It must not exist (or be empty) unless `overwrite`.
        name: The bundle's name (part of its `bundle_id`).
        provenance: Training data, recipe, metrics, the checkpoints' provenance; stored in the manifest
            next to the code version, the exporting library versions and the verification report.
        precision: "fp32", or "fp16" (weights and matmuls in fp16, see `export.fp16`).
        defaults: The sampling defaults the runtime uses.
        verify: Check every graph with `onnx.checker` and compare ONNX Runtime with PyTorch.
        overwrite: Replace an existing bundle at `out_dir` (only once the new one is complete).
        seed: Seeds the random trace and verification inputs.

    Returns:
        `out_dir`.

    Raises:
        FileExistsError: `out_dir` exists and is not empty, without `overwrite`.
        ValueError: Parts missing or not fitting together, an unknown precision.
        export.verify.VerificationError: A graph failed verification (nothing is written).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} already exists; choose a new folder or overwrite it")
    manifest_parts = _specs(parts)  # checks the parts before any work
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Built in a temporary sibling folder, moved into place whole (an old bundle is replaced whole).
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        graphs = graph_defs(parts, seed=seed)
        for graph in graphs.values():
            path = export_graph(graph, tmp / f"{graph.name}.onnx")
            if precision == "fp16":
                onnx.save(fp16.convert_to_fp16(onnx.load(str(path))), str(path))
        report = verify_graphs(graphs, tmp, precision=precision) if verify else "skipped"
        manifest = Manifest(
            name=name,
            precision=precision,
            opset=OPSET,
            exporter=EXPORTER,
            graphs={g: graph_spec(tmp / f"{g}.onnx") for g in GRAPH_NAMES},
            defaults=defaults,
            provenance={**provenance, **_export_provenance(), "verification": report},
            **manifest_parts,
        )
        manifest = dataclasses.replace(manifest, bundle_id=compute_bundle_id(manifest))
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return out_dir


def _specs(parts: dict[str, nn.Module]) -> dict[str, Any]:
    """The manifest's audio, latent and video sections, read from the parts."""
    check_parts(parts)
    mel = MelSpec()  # training's front end (`training.layers.mel.MelSpectrogram()`) uses the default
    encoder, _, _, vae, _ = typed_parts(parts)
    if vae.config.n_mels != mel.n_mels:
        raise ValueError(f"the VAE takes {vae.config.n_mels} mel bands, the mel front end makes {mel.n_mels}")
    return {
        "audio": AudioSpec(**{f.name: getattr(mel, f.name) for f in dataclasses.fields(AudioSpec)}),
        "latent": LatentSpec(
            channels=vae.config.latent_channels,
            rate=mel.sample_rate / mel.hop_length / vae.config.downsample,
            downsample=vae.config.downsample,
            mean=tuple(vae.latent_mean.tolist()),
            std=tuple(vae.latent_std.tolist()),
        ),
        "video": VideoSpec(
            fps=float(VIDEO_FPS),
            image_size=encoder.image_size,
            clip_frames=encoder.clip_frames,
            grid=encoder.grid,
            feature_dim=encoder.feature_dim,
            has_cls=encoder.has_cls,
        ),
    }


def _export_provenance() -> dict[str, Any]:
    return {
        "code_version": ckpt.code_version(),
        "exported_with": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }


# --- from checkpoints -------------------------------------------------------------------------------------


def bundle_from_checkpoints(
    *,
    v2m: str | Path,
    vocoder: str | Path,
    out_dir: str | Path,
    name: str | None = None,
    precision: str = "fp32",
    defaults: Defaults = Defaults(),  # noqa: B008
    verify: bool = True,
    overwrite: bool = False,
) -> Path:
    """Export the models of a `v2m` checkpoint and a `vocoder` checkpoint (see `training.loop`).

    Args:
        v2m: Checkpoint of stage `v2m`: holds `dit`, `vae`, `visual_encoder`, `adaptor`. A pre-trained
            visual encoder is rebuilt from its local weights, which must exist on this machine.
        vocoder: Checkpoint of stage `vocoder`: holds `vocoder`.
        out_dir: The bundle folder (see `export_bundle`).
        name: Bundle name; default `muvi-<preset of the v2m run>`.
        precision: "fp32" or "fp16".
        defaults: Sampling defaults for the runtime.
        verify: Verify every graph (see `export.verify`).
        overwrite: Replace an existing bundle.

    Raises:
        CheckpointError: A checkpoint lacks a needed part (the message names the file and the parts).
        FileNotFoundError, ValueError: A missing or unreadable checkpoint (`training.checkpoint`).
    """
    v2m_payload = _load(v2m, V2M_PARTS, stage="v2m")
    vocoder_payload = _load(vocoder, ("vocoder",), stage="vocoder")
    parts = {p: load_part(p, v2m_payload["models"][p]) for p in V2M_PARTS}
    parts["vocoder"] = load_part("vocoder", vocoder_payload["models"]["vocoder"])
    preset = v2m_payload.get("run", {}).get("preset", "custom")
    provenance = {
        "checkpoints": {
            "v2m": _checkpoint_provenance(v2m, v2m_payload),
            "vocoder": _checkpoint_provenance(vocoder, vocoder_payload),
        },
    }
    return export_bundle(
        parts,
        out_dir,
        name=name or f"muvi-{preset}",
        provenance=provenance,
        precision=precision,
        defaults=defaults,
        verify=verify,
        overwrite=overwrite,
    )


def _load(path: str | Path, needed: tuple[str, ...], *, stage: str) -> dict[str, Any]:
    payload = ckpt.load_checkpoint(path)
    held = sorted(payload.get("models", {}))
    missing = [p for p in needed if p not in held]
    if missing:
        raise CheckpointError(
            f"{path}: not a {stage!r} checkpoint: it lacks the model parts {', '.join(missing)} (it holds "
            f"{', '.join(held) or 'none'}, from stage {payload.get('stage', '?')!r}); pass the checkpoint "
            f"written by `muvi-train {stage}`"
        )
    return payload


def _checkpoint_provenance(path: str | Path, payload: dict[str, Any]) -> dict[str, Any]:
    run = payload.get("run", {})
    return {
        "file": Path(path).name,
        "sha256": sha256_file(path),
        "stage": payload.get("stage"),
        "step": payload.get("step"),
        "preset": run.get("preset"),
        "code_version": payload.get("code_version"),
        "data": payload.get("provenance", {}),
    }


# --- debug -------------------------------------------------------------------------------------------------

DEBUG_LATENT_MEAN = (-0.4, -0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.4)
DEBUG_LATENT_STD = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25)


def debug_parts(*, seed: int = 0) -> dict[str, nn.Module]:
    """Freshly initialised, untrained debug-preset models (seeded), fit for tests of the whole chain.

    The DiT's output projection, zero at initialisation, gets random weights so the velocity depends on its
    inputs, and the VAE gets non-trivial latent statistics so (de)normalisation is exercised.
    """
    from training import presets

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_part("visual_encoder", presets.visual_encoder_config("debug"))
        parts = {
            "visual_encoder": encoder,
            "adaptor": build_part("adaptor", presets.adaptor_config("debug", encoder)),
            "dit": build_part("dit", presets.dit_config("debug")),
            "vae": build_part("vae", presets.vae_config("debug")),
            "vocoder": build_part("vocoder", presets.vocoder_config("debug")),
        }
        _, _, dit, vae, _ = typed_parts(parts)
        nn.init.normal_(dit.out_proj.weight, std=0.1)
    channels = vae.config.latent_channels
    if channels != len(DEBUG_LATENT_MEAN):
        raise ValueError(f"debug latent stats are for {len(DEBUG_LATENT_MEAN)} channels, not {channels}")
    vae.set_latent_stats(torch.tensor(DEBUG_LATENT_MEAN), torch.tensor(DEBUG_LATENT_STD))
    for part in parts.values():
        part.eval()
    return parts


def build_debug_bundle(
    out_dir: str | Path,
    *,
    seed: int = 0,
    precision: str = "fp32",
    verify: bool = True,
    overwrite: bool = False,
) -> Path:
    """Export `debug_parts(seed=seed)` as a bundle named `muvi-debug` (seconds; for tests and trials)."""
    return export_bundle(
        debug_parts(seed=seed),
        out_dir,
        name="muvi-debug",
        provenance={"preset": "debug", "seed": seed, "training": "none: randomly initialised, for tests"},
        precision=precision,
        verify=verify,
        overwrite=overwrite,
        seed=seed,
    )
