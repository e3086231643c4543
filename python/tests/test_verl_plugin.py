"""rewardflow_engine.verl against the real verl package (skipped when verl is not installed):
the estimator is in verl's registry, and verl's own compute_advantage on a hand-built DataProto
writes RewardFlow's advantages."""
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("verl")
pytest.importorskip("verl.trainer.ppo.ray_trainer")

from verl import DataProto  # noqa: E402
from verl.trainer.ppo import core_algos, ray_trainer  # noqa: E402

import rewardflow_engine.verl as plugin  # noqa: E402
from rewardflow_engine import score  # noqa: E402
from rewardflow_engine.verl_agent import compute_rewardflow_outcome_advantage  # noqa: E402

from test_verl_agent import advantage_batch, restated_advantage  # noqa: E402


def test_registered():
    assert core_algos.get_adv_estimator_fn("rewardflow") is plugin.compute_rewardflow_advantage
    assert ray_trainer.compute_advantage._rewardflow_shim


def test_external_modules_variable_registers_it():
    code = ("import verl\nfrom verl.trainer.ppo import core_algos\n"
            "print('rewardflow' in core_algos.ADV_ESTIMATOR_REGISTRY)")
    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="rewardflow_engine.verl")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def _data(seed, with_step_rewards=True):
    tlr, steps, mask, anchor, index, traj = advantage_batch(seed, bs=120)
    tensors = {"token_level_rewards": torch.tensor(tlr, dtype=torch.float32),
               "response_mask": torch.tensor(mask)}
    if with_step_rewards:
        tensors["step_rewards"] = torch.tensor(steps, dtype=torch.float32)
    data = DataProto.from_dict(tensors=tensors, non_tensors={
        "uid": index, "traj_uid": traj, "anchor_obs": anchor})
    return data, (tlr, steps, mask, anchor, index, traj)


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
def test_compute_advantage_on_a_dataproto(mode):
    from omegaconf import OmegaConf
    data, (tlr, steps, mask, anchor, index, traj) = _data(1)
    config = OmegaConf.create({"gamma": 0.9, "rewardflow": {"mode": mode, "step_advantage_w": 0.5}})
    out = ray_trainer.compute_advantage(data, adv_estimator="rewardflow", config=config)
    adv = out.batch["advantages"]
    assert adv.dtype == torch.float32 and tuple(adv.shape) == tlr.shape
    assert torch.equal(out.batch["returns"], adv)
    want = restated_advantage(tlr.astype(np.float32), steps.astype(np.float32), mask, anchor,
                              index, 1e-6, 0.5, mode)
    scale = np.abs(want).max()
    assert scale > 1
    assert np.all(np.abs(adv.double().numpy() - want) <= 1e-6 * np.maximum(np.abs(want), scale))


def test_step_rewards_propagated_when_absent():
    from omegaconf import OmegaConf
    rng = np.random.default_rng(3)
    uid, traj, step, obs, reward = [], [], [], [], []
    for g in range(4):
        for r in range(3):
            for j in range(int(rng.integers(2, 7))):
                uid.append(f"g{g}")
                traj.append(f"g{g}r{r}")
                step.append(j)
                obs.append(f"s{int(rng.integers(0, 4))}")
                reward.append(float(rng.choice([0.0, 0.0, 1.0])))
    bs, length = len(uid), 4
    tlr = np.zeros((bs, length), dtype=np.float32)
    tlr[:, -1] = reward
    data = DataProto.from_dict(
        tensors={"token_level_rewards": torch.tensor(tlr), "response_mask": torch.ones(bs, length)},
        non_tensors={"uid": np.array(uid, dtype=object), "traj_uid": np.array(traj, dtype=object),
                     "anchor_obs": np.array(obs, dtype=object), "step": np.array(step)})
    config = OmegaConf.create({"gamma": 0.9})
    adv = ray_trainer.compute_advantage(data, adv_estimator="rewardflow", config=config).batch["advantages"]
    step_rewards = score(uid, traj, np.array(step), obs, np.array(reward), gamma=0.9)["step_reward"]
    want, _ = compute_rewardflow_outcome_advantage(
        torch.tensor(tlr), step_rewards, torch.ones(bs, length), np.array(obs, dtype=object),
        np.array(uid, dtype=object), np.array(traj, dtype=object))
    assert torch.equal(adv, want)
    assert float(np.abs(step_rewards).max()) > 0


def test_other_estimators_untouched():
    data, _ = _data(2)
    out = ray_trainer.compute_advantage(data, adv_estimator="grpo")
    assert "advantages" in out.batch.keys()


def test_missing_non_tensor_key_is_refused():
    data, _ = _data(4)
    data.non_tensor_batch.pop("anchor_obs")
    with pytest.raises(ValueError, match="anchor_obs: missing"):
        ray_trainer.compute_advantage(data, adv_estimator="rewardflow", config={"gamma": 0.9})
