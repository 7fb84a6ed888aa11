"""`muvi-train`: run one training stage, or make synthetic training data. Argument parsing over
`training.loop.train` and `training.synthdata`.

Examples:
    muvi-train recipe demo --work runs/demo         # the embedded default model, end to end
    muvi-train recipe-eval --work runs/demo --out runs/demo/eval   # its numbers, for the model card
    muvi-train make-data --out data/synth --hours 3 --seed 0 --jobs 2
    muvi-train vae --data music/ --out runs/vae --preset demo --steps 4000
    muvi-train dit-pretrain --data music/ --out runs/dit --init runs/vae/step_4000.ckpt
    torchrun --nproc_per_node 8 -m training v2m --data videos/ --out runs/v2m --preset base \\
        --init runs/vae/step_350000.ckpt --init runs/dit/step_160000.ckpt --init runs/clr/step_N.ckpt \\
        --visual-encoder videomae_v2 --visual-encoder-checkpoint ~/models/videomae-v2-base
"""

from __future__ import annotations

import argparse
import sys

from training.loop import STAGES, RunConfig, train
from training.presets import PRESET_NAMES


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="muvi-train",
        description="Train one stage of the MuVi model. (`muvi-train make-data --help`: make training "
        "data; `muvi-train recipe --help`: a whole model, data to bundle; `muvi-train recipe-eval --help`: "
        "its numbers.)",
    )
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--data", required=True, help="folder of music files, or of videos with soundtracks")
    p.add_argument("--out", required=True, help="run folder: checkpoints and log.jsonl (resumes from it)")
    p.add_argument("--preset", default="debug", choices=PRESET_NAMES)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=None, help="default: the preset's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--init",
        action="append",
        default=[],
        metavar="CKPT",
        help="checkpoint of an earlier stage (repeatable)",
    )
    p.add_argument("--min-seconds", type=float, default=4.0)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--keep-checkpoints", type=int, default=2)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--visual-encoder", choices=("videomae", "videomae_v2", "clip", "scratch"))
    p.add_argument("--visual-encoder-checkpoint", metavar="DIR", help="local pre-trained encoder checkpoint")
    p.add_argument("--audio-encoder-checkpoint", metavar="FILE", help="local AudioMAE checkpoint")
    p.add_argument("--adaptor", choices=("softmax", "sigmoid", "attention", "mean", "cls"))
    p.add_argument("--adversarial-start", type=int, default=0, help="vocoder: GAN losses join at this step")
    p.add_argument(
        "--vocoder",
        choices=("hifigan", "vocos"),
        help="vocoder family (default: the preset's, see presets.py)",
    )
    p.add_argument(
        "--latent-channels", type=int, help="vae: latent channels (default: the preset's; MuVi App. B: 8)"
    )
    p.add_argument(
        "--latent-downsample",
        type=int,
        help="vae: mel frames per latent frame, 8 (10/s, MuVi's; the DiT stages need it) or 4/2/1 (trials)",
    )
    p.add_argument(
        "--vae-width",
        type=int,
        help="vae: channels of its first level (default: the preset's; MuVi App. A: 256, demo: 32)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["make-data"]:
        from training.synthdata.cli import main as make_data

        return make_data(argv[1:])
    if argv[:1] == ["recipe"]:
        from training.recipe import main as recipe

        return recipe(argv[1:])
    if argv[:1] == ["recipe-eval"]:
        from training.recipe_eval import main as recipe_eval

        return recipe_eval(argv[1:])
    args = _parsed_args(argv)
    try:
        run = RunConfig(
            stage=args.stage,
            data=args.data,
            out_dir=args.out,
            preset=args.preset,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            init=tuple(args.init),
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            checkpoint_every=args.checkpoint_every,
            keep_checkpoints=args.keep_checkpoints,
            log_every=args.log_every,
            num_workers=args.workers,
            device=args.device,
            visual_encoder=args.visual_encoder,
            visual_encoder_checkpoint=args.visual_encoder_checkpoint,
            audio_encoder_checkpoint=args.audio_encoder_checkpoint,
            adaptor_mode=args.adaptor,
            adversarial_start=args.adversarial_start,
            vocoder=args.vocoder,
            latent_channels=args.latent_channels,
            latent_downsample=args.latent_downsample,
            vae_width=args.vae_width,
            progress=not args.no_progress,
        )
        last = train(run)
    except (ValueError, FileNotFoundError) as exc:
        print(f"muvi-train: error: {exc}", file=sys.stderr)
        return 2
    if last is not None:
        print(f"{args.stage}: checkpoint {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
