#!/usr/bin/env python3
"""Two builds of rewardflow_engine._core side by side on apply_rewardflow_propagation.

Loads both extension files as the package's _core (each a module object of its own), then
alternates them call by call on fresh copies of the same total_batch_list (as
scripts/bench_trainer.py builds it: gen_trajectories.py --seed 1, padded to --steps step dicts,
the reference's SokobanEnvironmentManager state_preprocess, identity tokenizer), so both see
the same machine. Prints each build's median time excluding state_preprocess and whether their
step_rewards / step_rewards_abs are identical. The engine library is the installed one.

    python3 scripts/ab_trainer.py --reference /path/to/RewardFlow A.abi3.so B.abi3.so [--groups 16]

(a build of the current tree: `pip install ./python`, then copy
.venv/lib/python3*/site-packages/rewardflow_engine/_core.abi3.so aside; likewise for the other).
"""
import argparse
import collections
import copy
import gc
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_trainer as bt  # noqa: E402


def load_core(path):
    spec = importlib.util.spec_from_file_location("rewardflow_engine._core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="first _core extension file")
    parser.add_argument("b", help="second _core extension file")
    parser.add_argument("--reference", default=os.environ.get("REWARDFLOW_REFERENCE"),
                        help="checkout of tmlr-group/RewardFlow (or $REWARDFLOW_REFERENCE)")
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--calls", type=int, default=61, help="calls of each build (median)")
    parser.add_argument("--generator", default=str(bt.REPO.parent / "shared/tools/gen_trajectories.py"))
    args = parser.parse_args()
    if not args.reference:
        parser.error("needs a reference checkout (for its env manager): --reference PATH")
    import rewardflow_engine
    from rewardflow_engine import verl_agent
    _, env_cls = bt.load_reference(args.reference)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.jsonl"
        subprocess.run([sys.executable, args.generator, "--groups", str(args.groups), "--rollouts", "8",
                        "--max-steps", str(args.steps), "--seed", "1", "-o", str(path)],
                       check=True, stderr=subprocess.DEVNULL)
        batch = bt.batch_from_rows(path, args.steps)
    builds = {"A": load_core(args.a), "B": load_core(args.b)}
    seconds, outputs = collections.defaultdict(list), {}
    tok = bt.IdentityTokenizer()
    for _ in range(args.calls):
        for name, core in builds.items():
            verl_agent._core = rewardflow_engine._core = core
            data, env = copy.deepcopy(batch), bt.timed_env(env_cls)
            gc.collect()
            start = time.perf_counter()
            verl_agent.apply_rewardflow_propagation(data, bt.Config, tok, env)
            seconds[name].append(time.perf_counter() - start - env.seconds)
            outputs[name] = [(s["step_rewards"], s["step_rewards_abs"]) for traj in data for s in traj]
    print(f"{args.groups} groups x 8 x {args.steps}, {args.calls} calls each, alternating:")
    for name, path in (("A", args.a), ("B", args.b)):
        print(f"  {name} {1e3 * statistics.median(seconds[name]):8.3f} ms  {path}")
    print(f"  outputs identical: {outputs['A'] == outputs['B']}")


if __name__ == "__main__":
    main()
