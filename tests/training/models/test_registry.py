"""The part registry: a part rebuilt from what a checkpoint stores is the same model."""

import pytest
import torch

from training import checkpoint as ckpt
from training import presets
from training.models.registry import build_part, load_part, part_entry, part_from_checkpoints
from training.models.vae import MelVAE
from training.tasks import base


def test_a_stored_part_comes_back_with_its_config_and_weights():
    model = build_part("vae", presets.vae_config("debug"))
    assert isinstance(model, MelVAE) and model.config == presets.vae_config("debug")
    entry = part_entry(model)
    back = load_part("vae", {"config": entry["config"], "state": entry["state"]})  # config as a plain dict
    assert back.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_unknown_part_is_refused():
    with pytest.raises(KeyError, match="unknown model part 'nope'"):
        build_part("nope", {})


def test_the_stages_use_the_registry_itself():
    # training.tasks.base re-exports the registry for the stage modules; it must not grow a second copy.
    assert base.build_part is build_part and base.load_part is load_part
    assert base.part_from_checkpoints is part_from_checkpoints


def test_part_from_checkpoints_finds_the_first_that_holds_it(tmp_path):
    model = build_part("vae", presets.vae_config("debug"))
    without = ckpt.save_checkpoint(tmp_path / "a.ckpt", {"models": {}})
    holding = ckpt.save_checkpoint(tmp_path / "b.ckpt", {"models": {"vae": part_entry(model)}})
    back = part_from_checkpoints("vae", (str(without), str(holding)))
    assert back is not None and back.config == model.config
    torch.testing.assert_close(back.state_dict(), model.state_dict(), rtol=0, atol=0)
    assert part_from_checkpoints("dit", (str(without), str(holding))) is None
