"""The whole recipe of a model in one command: data -> every training stage -> export -> verified bundle.

`muvi-train recipe --work runs/demo` reproduces the embedded default model (`DEMO`): it renders its own
video-music data set (`training.synthdata`), trains the five stages in order, each from the checkpoints of
the ones before (MuVi App. B), and exports the result as a verified bundle. Every step resumes: finished
clips are kept, a stage restarts from its newest checkpoint, a finished stage is skipped. Stopping it at any
point and running the same command again continues where it stopped.

Work folder layout: `data/{train,test}` (the rendered clips), one run folder per stage (`vae/`, `vocoder/`,
`dit-pretrain/`, `contrastive/`, `v2m/`: checkpoints and `log.jsonl`), and `bundle/` unless `--bundle` says
where the bundle goes.

Training outlives a machine: with `--keep DIR` every finished stage also leaves a slim copy of its final
checkpoint (models, config, provenance; no optimiser state) as `DIR/<stage>.ckpt`, small enough to commit.
On a fresh machine the same command re-renders the data (deterministic: the same clips, byte for byte),
takes each kept stage as done, and trains only what is left. `--snapshot` also keeps the newest checkpoint of
the stage in progress, whole (`DIR/<stage>.partial.ckpt`, optimiser state included), which the next run
resumes from instead of starting that stage again.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from muvi_plugin.atomic import atomic_path
from training import checkpoint as ckpt
from training.loop import STAGES, RunConfig, train


@dataclass(frozen=True)
class StagePlan:
    """One stage of a recipe.

    Attributes:
        stage: one of `training.loop.STAGES`.
        steps: optimiser steps.
        batch_size: clips per batch.
        min_seconds, max_seconds: random segment durations.
        init: earlier stages whose final checkpoints this one starts from.
        adversarial_start: vocoder only: the step at which the GAN losses join.
        vocoder: vocoder only: the family ("hifigan" or "vocos"; None: the preset's default).
        latent_channels: vae only: the latent's channels (None: the preset's).
        vae_width: vae only: the channels of its first level (None: the preset's).
        checkpoint_every: steps between checkpoints (what an interruption can cost).
        workers: data loader processes: one decodes the next batch while the model trains on this one.
    """

    stage: str
    steps: int
    batch_size: int
    min_seconds: float
    max_seconds: float
    init: tuple[str, ...] = ()
    adversarial_start: int = 0
    vocoder: str | None = None
    latent_channels: int | None = None
    vae_width: int | None = None
    checkpoint_every: int = 250
    workers: int = 1

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}")


@dataclass(frozen=True)
class Recipe:
    """A model's recipe: its preset, how much data it renders, and its stages in order.

    Attributes:
        name: the bundle's name.
        preset: the model sizes (`training.presets`).
        data_hours: hours of rendered video-music clips (train and test split together).
        stages: the stages, each after the ones it starts from.
        seed: seeds the data and every stage.
        test_fraction: share of the pieces held out for evaluation.
        clip_seconds: (shortest, longest) rendered clip.
        max_window_seconds: the bundle's longest generation window: no longer than the DiT's training
            segments, so every window is a length it learned (longer ranges continue window by window).
        context_seconds: clean tail of the previous window each continuing window keeps.
    """

    name: str
    preset: str
    data_hours: float
    stages: tuple[StagePlan, ...]
    seed: int = 0
    test_fraction: float = 0.1
    clip_seconds: tuple[float, float] = (20.0, 60.0)
    max_window_seconds: float = 30.0
    context_seconds: float = 5.0

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for plan in self.stages:
            missing = [s for s in plan.init if s not in seen]
            if missing:
                raise ValueError(f"stage {plan.stage} starts from {missing}, which come later or not at all")
            seen.add(plan.stage)
        if "v2m" not in seen or "vocoder" not in seen:
            raise ValueError("a recipe needs a v2m and a vocoder stage to make a bundle")

    def scaled(self, factor: float) -> Recipe:
        """The same recipe with `factor` times the steps (at least 1 each) and data: for quick trials."""
        stages = tuple(
            dataclasses.replace(
                p,
                steps=max(1, round(p.steps * factor)),
                adversarial_start=round(p.adversarial_start * factor),
                checkpoint_every=max(1, round(p.checkpoint_every * factor)),
            )
            for p in self.stages
        )
        return dataclasses.replace(self, stages=stages, data_hours=self.data_hours * factor)


# The embedded default model, sized for this 2-core CPU: about three hours with `--parallel 2` (measured
# seconds per step on it: vae 0.5; vocoder 1.0 on one thread, 3.4 once the GAN joins; dit-pretrain 1.5 on one
# thread; contrastive 3-4.5 on one thread; v2m 2.8 on two, bound by decoding video in the loader). The
# vocoder learns on 1-2 s clips (it crops 1 s windows anyway); the DiT stages on 4-16 s rather than MuVi's
# 4-30 s, which would double their cost, and the bundle generates in windows of at most 16 s to match.
VOCODER_STEPS = 5000
DEMO = Recipe(
    name="muvi-demo",
    preset="demo",
    data_hours=4.0,
    stages=(
        StagePlan("vae", steps=3000, batch_size=8, min_seconds=4.0, max_seconds=10.0),  # ~25 min
        # muvi-demo 1.1 (issue 14): Vocos with the mel-prior magnitude and Griffin-Lim phase (models/vocos.py,
        # preset demo) in place of HiFi-GAN, whose output at this budget was a comb on the multiples of the
        # 80 Hz frame rate with no note in tune (docs/benchmarks.md, "Resynthesis").
        # It learns the magnitude alone, without discriminators: 0.4-1.3 s a step on one thread here, loaded.
        StagePlan(
            "vocoder",
            steps=VOCODER_STEPS,
            batch_size=8,
            min_seconds=1.0,
            max_seconds=2.0,
            adversarial_start=VOCODER_STEPS,
            vocoder="vocos",
        ),
        StagePlan(  # ~50 min
            "dit-pretrain", steps=2000, batch_size=12, min_seconds=4.0, max_seconds=16.0, init=("vae",)
        ),
        StagePlan("contrastive", steps=400, batch_size=8, min_seconds=4.0, max_seconds=10.0),  # ~25 min
        StagePlan(  # ~50 min
            "v2m",
            steps=1000,
            batch_size=8,
            min_seconds=4.0,
            max_seconds=16.0,
            init=("vae", "dit-pretrain", "contrastive"),
        ),
    ),
    max_window_seconds=16.0,
    context_seconds=4.0,
)

# muvi-demo v2's music stages (issues 14 and 16): DEMO's vocoder, and a wider latent (32 channels at MuVi's 10
# frames/s, 20x compression instead of 160x) from a wider VAE (64 channels at its first level, demo: 32) so
# that the notes survive it. The demo VAE (8 x 10/s, width 32) and a first 32-channel one (width 32, 3000
# steps) kept no notes: a mel L1 of 0.8 after the round trip and a note F1 of 0.0 through Griffin-Lim.
DEMO_V2 = dataclasses.replace(
    DEMO,
    stages=(
        DEMO.stages[1],
        StagePlan(
            "vae",
            steps=6000,
            batch_size=8,
            min_seconds=4.0,
            max_seconds=10.0,
            latent_channels=32,
            vae_width=64,
        ),
        *DEMO.stages[2:],
    ),
)

RECIPES = {"demo": DEMO, "demo-v2": DEMO_V2}


def make_data(
    recipe: Recipe, data: Path, *, jobs: int, progress: Callable[[int], None] | None = None
) -> None:
    """Render the recipe's data set into `data` (resumable: finished clips are kept)."""
    from training.synthdata.generate import GenerateConfig, generate

    config = GenerateConfig(
        out=os.fspath(data),
        hours=recipe.data_hours,
        seed=recipe.seed,
        test_fraction=recipe.test_fraction,
        min_seconds=recipe.clip_seconds[0],
        max_seconds=recipe.clip_seconds[1],
    )
    generate(config, jobs=jobs, progress=progress)


def finished_checkpoint(plan: StagePlan, run_dir: Path, keep: Path | None, *, preset: str) -> Path | None:
    """The stage's final checkpoint if the stage is done: in its run folder, or kept in `keep`."""
    last = ckpt.latest_checkpoint(run_dir)
    if last is not None and int(last.stem.split("_")[1]) >= plan.steps:
        return last
    kept = None if keep is None else keep / f"{plan.stage}.ckpt"
    if kept is None or not kept.is_file():
        return None
    payload = ckpt.load_checkpoint(kept)
    run = {**payload["run"], "steps": payload["step"]}  # the steps it trained: a run may stop before its plan
    mine = {"stage": plan.stage, "preset": preset, "steps": plan.steps, "batch_size": plan.batch_size}
    # The vocoder family and latent width are part of what was trained (None where a run predates them).
    for key in ("vocoder", "latent_channels", "vae_width"):
        if getattr(plan, key) is not None:
            mine[key] = getattr(plan, key)
    theirs = {key: run.get(key) for key in mine}
    if "vocoder" in mine and theirs["vocoder"] is None:
        # Checkpoints from before the field existed were HiFi-GAN; their stored part config says so.
        stored = payload["models"]["vocoder"]["config"]
        theirs["vocoder"] = stored.get("kind", "hifigan")
    if theirs != mine:
        raise ValueError(f"{kept}: kept checkpoint of another recipe ({theirs}; this one is {mine})")
    return kept


def partial_name(stage: str) -> str:
    return f"{stage}.partial.ckpt"


def restore_partial(plan: StagePlan, run_dir: Path, keep: Path | None) -> None:
    """Put a kept partial checkpoint of the stage into its empty run folder, for `train` to resume from."""
    partial = None if keep is None else keep / partial_name(plan.stage)
    if partial is None or not partial.is_file() or ckpt.latest_checkpoint(run_dir) is not None:
        return
    step = ckpt.load_checkpoint(partial)["step"]
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(partial, run_dir / f"step_{step}.ckpt")


def snapshot(recipe: Recipe, work: Path, keep: Path) -> list[Path]:
    """Keep the newest checkpoint of every unfinished stage whole, as `keep/<stage>.partial.ckpt`.

    More than one stage is in progress after `--parallel`; stages not yet started are skipped.
    """
    kept = []
    for plan in recipe.stages:
        run_dir = work / plan.stage
        if finished_checkpoint(plan, run_dir, keep, preset=recipe.preset) is not None:
            continue
        last = ckpt.latest_checkpoint(run_dir)
        if last is None:
            continue
        keep.mkdir(parents=True, exist_ok=True)
        target = keep / partial_name(plan.stage)
        with atomic_path(target) as tmp:
            shutil.copyfile(last, tmp)
        kept.append(target)
    return kept


def keep_checkpoint(source: Path, target: Path) -> Path:
    """Write a slim copy of a finished stage's checkpoint: everything but the optimiser state."""
    payload = ckpt.load_checkpoint(source)
    payload.pop("optimizers", None)
    return ckpt.save_checkpoint(target, payload)


def run_recipe(
    recipe: Recipe,
    work: str | os.PathLike,
    *,
    bundle: str | os.PathLike | None = None,
    keep: str | os.PathLike | None = None,
    jobs: int = 1,
    parallel: int = 1,
    until: str | None = None,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path | None:
    """Run (or resume) the whole recipe; returns the verified bundle, or None when stopped at `until`.

    Args:
        recipe: what to make.
        work: the work folder (layout in the module docstring).
        bundle: where the bundle goes (default `work/bundle`); an existing one there is replaced.
        keep: folder of slim final checkpoints: finished stages are written there and taken from there.
        jobs: processes rendering the data set.
        parallel: stages trained at once, each in its own process with a share of the CPU threads:
            stages that do not start from one another (the vocoder and the DiT stages) then
            overlap. Small models use two threads poorly, so on a 2-core machine two stages at once
            finish sooner than one after the other.
        until: stop after this step: "data" or a stage name.
        device: "auto", "cpu" or "cuda" for training.
        progress: show progress bars.
        log: where one line per step goes.
    """
    from export.bundle import bundle_from_checkpoints
    from muvi_plugin.manifest import Defaults

    if parallel < 1:
        raise ValueError(f"--parallel must be at least 1, got {parallel}")
    if until is not None and until not in ("data", *(p.stage for p in recipe.stages)):
        raise ValueError(f"--until must be 'data' or one of the recipe's stages, got {until!r}")
    work = Path(work)
    keep = None if keep is None else Path(keep)
    data = work / "data"
    began = time.perf_counter()
    log(f"{recipe.name}: data set of {recipe.data_hours:g} h in {data}")
    make_data(recipe, data, jobs=jobs)
    log(f"{recipe.name}: data ready after {time.perf_counter() - began:.0f} s")
    if until == "data":
        return None
    stages = list(recipe.stages)
    if until is not None:  # "data" returned above
        stages = stages[: [p.stage for p in stages].index(until) + 1]

    def config(plan: StagePlan, finals: dict[str, str]) -> RunConfig:
        return RunConfig(
            stage=plan.stage,
            data=os.fspath(data / "train"),
            out_dir=os.fspath(work / plan.stage),
            preset=recipe.preset,
            steps=plan.steps,
            batch_size=plan.batch_size,
            seed=recipe.seed,
            init=tuple(finals[s] for s in plan.init),
            min_seconds=plan.min_seconds,
            max_seconds=plan.max_seconds,
            checkpoint_every=plan.checkpoint_every,
            adversarial_start=plan.adversarial_start,
            vocoder=plan.vocoder,
            latent_channels=plan.latent_channels,
            vae_width=plan.vae_width,
            num_workers=plan.workers,
            device=device,
            progress=progress and parallel == 1,
        )

    def done(plan: StagePlan, last: Path) -> str:
        if keep is not None and not (keep / f"{plan.stage}.ckpt").is_file():
            keep_checkpoint(last, keep / f"{plan.stage}.ckpt")
            (keep / partial_name(plan.stage)).unlink(missing_ok=True)  # superseded by the final one
        return os.fspath(last)

    finals: dict[str, str] = {}
    if parallel == 1:
        for plan in stages:
            run = config(plan, finals)
            started = time.perf_counter()
            last = finished_checkpoint(plan, Path(run.out_dir), keep, preset=recipe.preset)
            if last is None:
                restore_partial(plan, Path(run.out_dir), keep)
                last = train(run)
                if last is None:
                    raise RuntimeError(f"stage {plan.stage} wrote no checkpoint in {run.out_dir}")
            finals[plan.stage] = done(plan, last)
            log(f"{recipe.name}: {plan.stage} done ({last}, {time.perf_counter() - started:.0f} s this run)")
    else:
        _train_in_parallel(recipe, stages, work, keep, config, done, finals, parallel=parallel, log=log)
    if until is not None:
        return None
    out = Path(bundle) if bundle is not None else work / "bundle"
    path = bundle_from_checkpoints(
        v2m=finals["v2m"],
        vocoder=finals["vocoder"],
        out_dir=out,
        name=recipe.name,
        precision="fp32",
        defaults=Defaults(
            max_window_seconds=recipe.max_window_seconds, context_seconds=recipe.context_seconds
        ),
        verify=True,
        overwrite=True,
    )
    log(f"{recipe.name}: bundle written to {path} after {time.perf_counter() - began:.0f} s")
    return Path(path)


def _train_stage(run: RunConfig, threads: int) -> None:
    """A child process's work under `--parallel`: one stage with its share of the CPU threads."""
    import multiprocessing
    import sys

    import torch

    # A spawned process makes "spawn" its default start method, which its data loader would inherit (a new
    # interpreter per loader worker); on Linux keep fork, as in a stage started from the command line.
    if sys.platform.startswith("linux"):
        multiprocessing.set_start_method("fork", force=True)
    torch.set_num_threads(threads)
    if train(run) is None:
        raise RuntimeError(f"stage {run.stage} wrote no checkpoint in {run.out_dir}")


def _train_in_parallel(
    recipe: Recipe,
    stages: list[StagePlan],
    work: Path,
    keep: Path | None,
    config: Callable[[StagePlan, dict[str, str]], RunConfig],
    done: Callable[[StagePlan, Path], str],
    finals: dict[str, str],
    *,
    parallel: int,
    log: Callable[[str], None],
) -> None:
    """Train `stages` up to `parallel` at a time, each as soon as the stages it starts from are done.

    Each stage runs in a spawned process (its own torch threads and data loader); a failed stage stops the
    others at their last checkpoint, and so does an interruption of this process.
    """
    import multiprocessing
    import signal
    import threading
    from multiprocessing.connection import wait

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGTERM (`kill`, a job scheduler) stops the stages too, not just this process; SIGINT already does,
    # unless the shell that started a background job made this process ignore it.
    on_main_thread = threading.current_thread() is threading.main_thread()
    cpus = os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    waiting = []
    for plan in stages:
        last = finished_checkpoint(plan, work / plan.stage, keep, preset=recipe.preset)
        if last is None:
            waiting.append(plan)
        else:
            finals[plan.stage] = done(plan, last)
            log(f"{recipe.name}: {plan.stage} done ({last})")
    running: dict[int, tuple[StagePlan, multiprocessing.process.BaseProcess, float]] = {}
    previous = signal.signal(signal.SIGTERM, stop) if on_main_thread else None
    try:
        while waiting or running:
            ready = [p for p in waiting if all(s in finals for s in p.init)]
            for n, plan in enumerate(ready):
                if len(running) >= parallel:
                    break
                waiting.remove(plan)
                # The threads are split among the stages that will run side by side from now on; a stage
                # left alone (v2m at the end) gets the whole CPU.
                threads = max(1, cpus // min(parallel, len(running) + len(ready) - n))
                run = config(plan, finals)
                restore_partial(plan, Path(run.out_dir), keep)
                process = context.Process(target=_train_stage, args=(run, threads), name=f"muvi-{plan.stage}")
                process.start()
                running[process.sentinel] = (plan, process, time.perf_counter())
                log(f"{recipe.name}: {plan.stage} started ({threads} thread(s), pid {process.pid})")
            if not running:
                names = ", ".join(p.stage for p in waiting)
                raise RuntimeError(f"stages {names} wait for stages that are not in the recipe")
            for sentinel in wait(list(running)):
                plan, process, started = running.pop(sentinel)
                process.join()
                if process.exitcode != 0:
                    raise RuntimeError(
                        f"stage {plan.stage} failed (exit code {process.exitcode}); its error is above, "
                        f"its checkpoints in {work / plan.stage}"
                    )
                last = ckpt.latest_checkpoint(work / plan.stage)
                if last is None:
                    raise RuntimeError(f"stage {plan.stage} wrote no checkpoint in {work / plan.stage}")
                finals[plan.stage] = done(plan, last)
                log(f"{recipe.name}: {plan.stage} done ({last}, {time.perf_counter() - started:.0f} s)")
    finally:
        for _, process, _ in running.values():
            process.terminate()
            process.join()
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """`muvi-train recipe`: argument parsing over `run_recipe`."""
    import argparse
    import sys

    p = argparse.ArgumentParser(
        prog="muvi-train recipe",
        description="Reproduce a model end to end: data, every stage, export. Resumes where it stopped.",
    )
    p.add_argument(
        "name", nargs="?", default="demo", choices=sorted(RECIPES), help="the recipe (default demo)"
    )
    p.add_argument("--work", required=True, help="work folder: data, one run folder per stage, the bundle")
    p.add_argument("--bundle", help="where the verified bundle goes (default WORK/bundle)")
    p.add_argument(
        "--keep", help="folder of slim final checkpoints of finished stages (kept, and taken as done)"
    )
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="data rendering processes")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="stages trained at once when they do not depend on each other, sharing the CPU threads",
    )
    p.add_argument("--until", help="stop after 'data' or after this stage")
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="only copy the newest checkpoint of the stage in progress into --keep (for a new machine)",
    )
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply every stage's steps and the data hours (trials)"
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    recipe = RECIPES[args.name]
    if args.scale != 1.0:
        if args.scale <= 0:
            p.error(f"--scale must be positive, got {args.scale}")
        recipe = recipe.scaled(args.scale)
    if args.snapshot:
        if not args.keep:
            p.error("--snapshot needs --keep DIR")
        kept = snapshot(recipe, Path(args.work), Path(args.keep))
        print("\n".join(f"kept {path}" for path in kept) if kept else "nothing in progress to keep")
        return 0
    try:
        run_recipe(
            recipe,
            args.work,
            bundle=args.bundle,
            keep=args.keep,
            jobs=args.jobs,
            parallel=args.parallel,
            until=args.until,
            device=args.device,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"muvi-train recipe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "muvi-train recipe: interrupted; every stage keeps its last checkpoint, the same command resumes",
            file=sys.stderr,
        )
        return 130
    return 0
