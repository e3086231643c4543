"""RewardFlow as an advantage estimator of upstream verl (volcengine/verl).

Importing this module under a verl installation registers the estimator ``"rewardflow"`` with
``verl.trainer.ppo.core_algos.register_adv_est`` and installs one shim: verl's
``ray_trainer.compute_advantage`` passes an estimator no ``non_tensor_batch``, so it is
wrapped to make the batch's ``non_tensor_batch`` (``uid``, ``traj_uid``, ``anchor_obs``, ...)
visible to the ``"rewardflow"`` estimator for the duration of that call; every other estimator
runs untouched. Load it in the trainer's processes with

    VERL_USE_EXTERNAL_MODULES=rewardflow_engine.verl

and select it with ``algorithm.adv_estimator=rewardflow``. Options (all optional) under
``+algorithm.rewardflow.*``: ``mode`` (``mean_norm`` | ``mean_std_norm``, default
``mean_norm``), ``step_advantage_w`` (default 1.0), ``epsilon`` (default 1e-6), ``gamma``
(default ``algorithm.gamma``), ``operator`` (default ``max-decay``).

Rows are agent steps (verl-agent's layout): ``non_tensor_batch`` needs ``uid`` (group),
``traj_uid`` and ``anchor_obs``. The step rewards are ``step_rewards`` from ``batch`` or
``non_tensor_batch`` when a rollout already computed them (verl-agent with
``rewardflow_engine.verl_agent.apply_rewardflow_propagation``); otherwise they are propagated
here, in one engine call over the batch, from the rows' rewards (``token_level_rewards``
summed per row), with ``non_tensor_batch["step"]`` (0, 1, 2, ... per trajectory) when present,
else the rows' order within each trajectory.
"""
import contextvars

import numpy as np

from verl.trainer.ppo import core_algos, ray_trainer

from . import score
from .verl_agent import compute_rewardflow_outcome_advantage

__all__ = ["compute_rewardflow_advantage", "NAME"]

NAME = "rewardflow"
_NON_TENSOR = contextvars.ContextVar("rewardflow_non_tensor_batch", default=None)


def _option(config, key, default):
    if config is None:
        return default
    options = config.get("rewardflow", None) if hasattr(config, "get") else getattr(config, "rewardflow", None)
    if options is None:
        return default
    value = options.get(key, None) if hasattr(options, "get") else getattr(options, key, None)
    return default if value is None else value


def _steps(traj_uid, non_tensor):
    if "step" in non_tensor:
        return np.asarray(non_tensor["step"], dtype=np.int64)
    seen = {}
    out = np.empty(len(traj_uid), dtype=np.int64)
    for row, t in enumerate(traj_uid.tolist() if isinstance(traj_uid, np.ndarray) else traj_uid):
        out[row] = seen[t] = seen.get(t, -1) + 1
    return out


@core_algos.register_adv_est(NAME)
def compute_rewardflow_advantage(token_level_rewards, response_mask, index=None, config=None,
                                 **kwargs):
    """verl estimator ``"rewardflow"``: RewardFlow's ``(advantages, returns)``, both
    ``(A_e + w * A_s) * response_mask`` (``verl_agent.compute_rewardflow_outcome_advantage``),
    with the rows' ``non_tensor_batch`` supplied by the ``compute_advantage`` shim."""
    non_tensor = _NON_TENSOR.get()
    if non_tensor is None:
        raise ValueError("rewardflow: no non_tensor_batch: call it through "
                         "verl.trainer.ppo.ray_trainer.compute_advantage after importing "
                         "rewardflow_engine.verl (VERL_USE_EXTERNAL_MODULES=rewardflow_engine.verl)")
    for key in ("uid", "traj_uid", "anchor_obs"):
        if key not in non_tensor:
            raise ValueError(f"rewardflow: non_tensor_batch: {key}: missing")
    uid = non_tensor["uid"] if index is None else index
    traj_uid, anchor_obs = non_tensor["traj_uid"], non_tensor["anchor_obs"]
    step_rewards = kwargs.get("step_rewards")
    if step_rewards is None:
        step_rewards = non_tensor.get("step_rewards")
    if step_rewards is None:
        gamma = float(_option(config, "gamma", config.get("gamma", 0.9) if config is not None else 0.9))
        rewards = token_level_rewards.sum(dim=-1).detach().to("cpu").double().numpy()
        obs = np.asarray(anchor_obs, dtype=object)
        out = score(list(map(str, uid)), list(map(str, traj_uid)), _steps(traj_uid, non_tensor),
                    [o if isinstance(o, str) else repr(o) for o in obs], rewards,
                    operator=_option(config, "operator", "max-decay"), gamma=gamma)
        step_rewards = out["step_reward"]
    return compute_rewardflow_outcome_advantage(
        token_level_rewards, step_rewards, response_mask, anchor_obs, uid, traj_uid,
        epsilon=float(_option(config, "epsilon", 1e-6)),
        step_advantage_w=float(_option(config, "step_advantage_w", 1.0)),
        mode=_option(config, "mode", "mean_norm"))


_original_compute_advantage = ray_trainer.compute_advantage


def _compute_advantage(data, adv_estimator, *args, **kwargs):
    name = getattr(adv_estimator, "value", adv_estimator)
    if name != NAME:
        return _original_compute_advantage(data, adv_estimator, *args, **kwargs)
    non_tensor = dict(data.non_tensor_batch)
    if "step_rewards" in data.batch.keys():
        non_tensor["step_rewards"] = data.batch["step_rewards"]
    token = _NON_TENSOR.set(non_tensor)
    try:
        return _original_compute_advantage(data, adv_estimator, *args, **kwargs)
    finally:
        _NON_TENSOR.reset(token)


if not getattr(ray_trainer.compute_advantage, "_rewardflow_shim", False):
    _compute_advantage._rewardflow_shim = True
    _compute_advantage.__wrapped__ = _original_compute_advantage
    _compute_advantage.__doc__ = _original_compute_advantage.__doc__
    ray_trainer.compute_advantage = _compute_advantage
