"""`muvi-export`: trained checkpoints -> a verified ONNX model bundle. Argument parsing over `export.bundle`.

Examples:
    muvi-export --v2m runs/v2m/step_20000.ckpt --vocoder runs/voc/step_50000.ckpt --out bundles/demo
    muvi-export --v2m runs/v2m/step_20000.ckpt --vocoder runs/voc/step_50000.ckpt --out bundles/fp16 --fp16
    muvi-export --debug-random --out /tmp/debug-bundle
"""

from __future__ import annotations

import argparse
import sys
import time

from export.bundle import build_debug_bundle, bundle_from_checkpoints
from export.verify import VerificationError
from muvi_plugin.manifest import read_manifest


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="muvi-export", description="Export trained muvi models to an ONNX bundle the runtime loads."
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--v2m", metavar="CKPT", help="checkpoint of stage v2m (DiT, VAE, encoder, adaptor)")
    source.add_argument(
        "--debug-random", action="store_true", help="export untrained debug-size models (a quick test bundle)"
    )
    p.add_argument("--vocoder", metavar="CKPT", help="checkpoint of stage vocoder (with --v2m)")
    p.add_argument("--out", required=True, metavar="DIR", help="the bundle folder to create")
    p.add_argument("--name", help="bundle name (default: muvi-<preset>)")
    p.add_argument("--fp16", action="store_true", help="fp16 weights and matmuls, for the CUDA provider")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--seed", type=int, default=0, help="--debug-random: seed of the random weights")
    args = p.parse_args(argv)
    if args.v2m and not args.vocoder:
        p.error("--v2m needs --vocoder CKPT (the checkpoint of stage vocoder)")
    if args.debug_random and (args.vocoder or args.name):
        p.error("--debug-random takes no --vocoder or --name")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parsed_args(argv)
    precision = "fp16" if args.fp16 else "fp32"
    start = time.perf_counter()
    try:
        if args.debug_random:
            out = build_debug_bundle(
                args.out,
                seed=args.seed,
                precision=precision,
                verify=not args.no_verify,
                overwrite=args.overwrite,
            )
        else:
            out = bundle_from_checkpoints(
                v2m=args.v2m,
                vocoder=args.vocoder,
                out_dir=args.out,
                name=args.name,
                precision=precision,
                verify=not args.no_verify,
                overwrite=args.overwrite,
            )
    except (ValueError, FileNotFoundError, FileExistsError, VerificationError) as exc:
        print(f"muvi-export: error: {exc}", file=sys.stderr)
        return 2
    manifest = read_manifest(out)
    print(f"bundle {manifest.bundle_id} written to {out} in {time.perf_counter() - start:.1f} s")
    report = manifest.provenance.get("verification")
    if isinstance(report, dict):
        for graph, r in report.items():
            print(f"  {graph:14s} max abs error {r['max_abs_error']:.2e} (peak {r['peak']:.3g})")
    else:
        print("  not verified (--no-verify)")
    return 0
