#!/usr/bin/env python3
"""The reference trainer's two RewardFlow functions against rewardflow_engine.verl_agent.

For each batch (default: the paper batch, 16 groups x 8 rollouts x 50 steps, and 128 groups x
8 x 50, both from ../shared/tools/gen_trajectories.py --seed 1, every trajectory padded to 50
step dicts with inactive steps as verl-agent's total_batch_list holds them) it times:

A. apply_rewardflow_propagation(total_batch_list, config, tokenizer, envs): the reference's
   (rewardflow/core_rewardflow.py) and ours, on fresh copies of the same batch, with the
   reference's SokobanEnvironmentManager (generic state_preprocess, self-loop cleaning) and a
   tokenizer whose decode is the identity (gc.collect() before each timed call, so the deep
   copy's garbage is not collected inside it). The env's state_preprocess, which both sides call,
   is timed separately and subtracted ("excl. preprocess"). Ours is split into its Python
   passes and the engine's score call.
B. compute_rewardflow_outcome_advantage on the trainer's batch of active steps (float32 torch
   tensors, response length 256, episode reward on each row's last response token, the step
   rewards from A), mean_norm.

Both sides' outputs are compared (A: max |difference| of step_rewards; B: of the advantages).
Medians of --repeat runs (ours) and --ref-repeat runs (the reference).

The reference is loaded from a checkout (never copied into this repository):
    git clone https://github.com/tmlr-group/RewardFlow /path/to/RewardFlow
    python3 scripts/bench_trainer.py --reference /path/to/RewardFlow   (or REWARDFLOW_REFERENCE)
Needs networkx, and torch for B (without torch, B is skipped and the reference's `import torch`
gets an empty stand-in, which A never touches); its other imports (verl, PIL, the env
managers' helpers) are replaced by empty stand-ins, as only the functions above run.
"""
import argparse
import contextlib
import copy
import gc
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def load_reference(root):
    """The reference's core_rewardflow module and its SokobanEnvironmentManager class."""
    root = Path(root)

    def stub(name, **attrs):
        module = sys.modules.get(name) or types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
        return module

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    stub("verl", DataProto=object)
    try:
        import torch  # noqa: F401
    except ImportError:  # part A needs no torch; its module only imports it (part B is skipped)
        stub("torch").__getattr__ = lambda name: object
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        stub("PIL", Image=stub("PIL.Image"))
    stub("agent_system")
    stub("agent_system.multi_turn_rollout")
    load("agent_system.multi_turn_rollout.utils", root / "agent_system/multi_turn_rollout/utils.py")
    import rewardflow  # the engine's package of that name; the reference's module goes beside it
    load("rewardflow.propagation", root / "rewardflow/propagation.py")
    del rewardflow

    class EnvironmentManagerBase:
        def __init__(self, envs, projection_f, config):
            self.envs, self.projection_f, self.config = envs, projection_f, config

    stub("agent_system.environments")
    stub("agent_system.environments.prompts")
    stub("agent_system.environments.base", EnvironmentManagerBase=EnvironmentManagerBase,
         to_numpy=np.asarray)
    stub("agent_system.memory", SimpleMemory=object, SearchMemory=object)
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        stub("omegaconf", OmegaConf=object)
    managers = load("agent_system.environments.env_manager",
                    root / "agent_system/environments/env_manager.py")
    core = load("_reference_core_rewardflow", root / "rewardflow/core_rewardflow.py")
    return core, managers.SokobanEnvironmentManager


class IdentityTokenizer:
    def decode(self, ids):
        return ids

    def batch_decode(self, batch):
        return list(batch)


def timed_env(cls):
    """An instance of a subclass of ``cls`` (same class name, so both sides dispatch on it)
    whose state_preprocess records its duration in ``env.seconds``."""
    def state_preprocess(self, total_batch_list, tokenizer):
        start = time.perf_counter()
        try:
            return cls.state_preprocess(self, total_batch_list, tokenizer)
        finally:
            self.seconds += time.perf_counter() - start

    sub = type(cls.__name__, (cls,), {"state_preprocess": state_preprocess})
    env = object.__new__(sub)  # no environments behind it: only state_preprocess runs
    env.projection_f = lambda texts, *rest: (list(texts), [1] * len(texts))
    env.seconds = 0.0
    return env


def batch_from_rows(path, steps):
    """verl-agent's total_batch_list from SPEC rows: one list of step dicts per trajectory,
    padded to ``steps`` dicts with inactive steps (reward 0, the last observation)."""
    trajs = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            trajs.setdefault((r["group"], r["trajectory"]), []).append(
                {"uid": r["group"], "traj_uid": r["trajectory"], "anchor_obs": r["state"],
                 "rewards": float(r["reward"]), "active_masks": bool(r["active"]),
                 "responses": r["action"]})
    batch = []
    for traj in trajs.values():
        traj.sort(key=lambda s: 0)  # already in step order
        while len(traj) < steps:
            pad = dict(traj[-1])
            pad.update(active_masks=False, rewards=0.0, responses="")
            traj.append(pad)
        batch.append(traj)
    return batch


class Config:
    class algorithm:
        gamma = 0.9


def median_ms(xs):
    return 1e3 * statistics.median(xs)


def bench_propagation(core, env_cls, batch, repeat, ref_repeat):
    from rewardflow_engine import verl_agent

    engine_seconds = []
    real_score = verl_agent.score

    def timed_score(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_score(*args, **kwargs)
        finally:
            engine_seconds.append(time.perf_counter() - start)

    tok = IdentityTokenizer()
    ref_total, ref_pre, ref_out = [], [], None
    for _ in range(ref_repeat):
        data, env = copy.deepcopy(batch), timed_env(env_cls)
        gc.collect()  # the copy's garbage is not the function's
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            ref_out = core.apply_rewardflow_propagation(data, Config, tok, env)
        ref_total.append(time.perf_counter() - start)
        ref_pre.append(env.seconds)
    ours_total, ours_pre, ours_out = [], [], None
    verl_agent.score = timed_score
    try:
        for _ in range(repeat):
            data, env = copy.deepcopy(batch), timed_env(env_cls)
            gc.collect()
            start = time.perf_counter()
            ours_out = verl_agent.apply_rewardflow_propagation(data, Config, tok, env)
            ours_total.append(time.perf_counter() - start)
            ours_pre.append(env.seconds)
    finally:
        verl_agent.score = real_score
    diff = max(abs(a["step_rewards"] - b["step_rewards"]) + abs(a["step_rewards_abs"] - b["step_rewards_abs"])
               for ta, tb in zip(ref_out, ours_out) for a, b in zip(ta, tb))
    ref_ex = [t - p for t, p in zip(ref_total, ref_pre)]
    ours_ex = [t - p for t, p in zip(ours_total, ours_pre)]
    python = [t - p - e for t, p, e in zip(ours_total, ours_pre, engine_seconds)]
    return {
        "reference total ms": median_ms(ref_total), "reference state_preprocess ms": median_ms(ref_pre),
        "reference excl. preprocess ms": median_ms(ref_ex),
        "ours total ms": median_ms(ours_total), "ours state_preprocess ms": median_ms(ours_pre),
        "ours excl. preprocess ms": median_ms(ours_ex),
        "ours engine score() ms": median_ms(engine_seconds), "ours Python passes ms": median_ms(python),
        "speed-up excl. preprocess": statistics.median(ref_ex) / statistics.median(ours_ex),
        "max |step_rewards difference|": diff,
    }, ours_out


def bench_advantage(core, propagated, repeat, ref_repeat, response_length=256):
    import torch
    from rewardflow_engine import verl_agent

    rows = [(traj[0]["uid"], traj[0]["traj_uid"], sum(s["rewards"] for s in traj if s["active_masks"]), s)
            for traj in propagated for s in traj if s["active_masks"]]
    bs = len(rows)
    tlr = torch.zeros((bs, response_length), dtype=torch.float32)
    mask = torch.zeros((bs, response_length), dtype=torch.int64)
    rng = np.random.default_rng(0)
    ends = torch.from_numpy(rng.integers(8, response_length + 1, bs))
    for i, (_, _, episode, _) in enumerate(rows):
        tlr[i, ends[i] - 1] = episode
        mask[i, :ends[i]] = 1
    steps = torch.tensor([s["step_rewards"] for *_, s in rows], dtype=torch.float32)
    anchor = np.array([s["anchor_obs"] for *_, s in rows], dtype=object)
    index = np.array([u for u, *_ in rows], dtype=object)
    traj = np.array([t for _, t, *_ in rows], dtype=object)
    args = (tlr, steps, mask, anchor, index, traj)

    ref, ours = [], []
    for _ in range(ref_repeat):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            want, _ = core.compute_rewardflow_outcome_advantage(*args)
        ref.append(time.perf_counter() - start)
    for _ in range(repeat):
        start = time.perf_counter()
        got, _ = verl_agent.compute_rewardflow_outcome_advantage(*args)
        ours.append(time.perf_counter() - start)
    return {
        "rows (active steps)": bs, "reference ms": median_ms(ref), "ours ms": median_ms(ours),
        "speed-up": statistics.median(ref) / statistics.median(ours),
        "max |advantage difference|": float((got - want).abs().max()),
        "dtype": str(got.dtype),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", default=os.environ.get("REWARDFLOW_REFERENCE"),
                        help="checkout of tmlr-group/RewardFlow (or $REWARDFLOW_REFERENCE)")
    parser.add_argument("--groups", default="16,128", help="group counts, comma-separated")
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=31, help="runs of ours (median)")
    parser.add_argument("--ref-repeat", type=int, default=3, help="runs of the reference (median)")
    parser.add_argument("--generator", default=str(REPO.parent / "shared/tools/gen_trajectories.py"))
    args = parser.parse_args()
    if not args.reference:
        parser.error("needs a reference checkout: --reference PATH or REWARDFLOW_REFERENCE")
    core, env_cls = load_reference(args.reference)
    with tempfile.TemporaryDirectory() as tmp:
        for groups in map(int, args.groups.split(",")):
            path = Path(tmp) / f"b{groups}.jsonl"
            subprocess.run([sys.executable, args.generator, "--groups", str(groups), "--rollouts",
                            str(args.rollouts), "--max-steps", str(args.steps), "--seed", "1",
                            "-o", str(path)], check=True, stderr=subprocess.DEVNULL)
            batch = batch_from_rows(path, args.steps)
            steps = sum(map(len, batch))
            print(f"== {groups} groups x {args.rollouts} x {args.steps}: {len(batch)} trajectories, "
                  f"{steps} step dicts")
            result, propagated = bench_propagation(core, env_cls, batch, args.repeat, args.ref_repeat)
            print("apply_rewardflow_propagation")
            for key, value in result.items():
                print(f"  {key:34s} {value:.6g}")
            if not HAVE_TORCH:
                print("compute_rewardflow_outcome_advantage: skipped (torch is not installed)")
                continue
            print("compute_rewardflow_outcome_advantage (torch float32, mean_norm)")
            for key, value in bench_advantage(core, propagated, args.repeat, args.ref_repeat).items():
                print(f"  {key:34s} {value if isinstance(value, str) else f'{value:.6g}'}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
