"""rewardflow_engine.verl_agent: the reference trainer's two functions, checked against a
restatement of their documented behaviour written here (plain Python: dicts, explicit loops,
value sweeps until nothing changes), on generated ``total_batch_list``s.

With ``REWARDFLOW_REFERENCE=/path/to/RewardFlow`` (a checkout of tmlr-group/RewardFlow, never
copied here) the restatement's propagation step is the reference's own
``rewardflow/propagation.py`` (``max_iter=1000``), loaded by file path as scripts/compare.py does.
"""
import copy
import importlib.util
import math
import os
import random
from collections import defaultdict

import numpy as np
import pytest

from rewardflow_engine import verl_agent
from rewardflow_engine.verl_agent import (
    apply_rewardflow_propagation, compute_rewardflow_outcome_advantage)

REFERENCE = os.environ.get("REWARDFLOW_REFERENCE")


def _reference_propagate():
    if not REFERENCE:
        return None
    path = os.path.join(REFERENCE, "rewardflow", "propagation.py")
    spec = importlib.util.spec_from_file_location("_reference_propagation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.propagate_reward_decay


REFERENCE_PROPAGATE = _reference_propagate()


# ----------------------------------------------------------------------------------------------
# Environments (stand-ins for the reference managers: same class names, the state_preprocess
# contract described by the reference, written for this test) and a tokenizer
# ----------------------------------------------------------------------------------------------

class IdentityTokenizer:
    def decode(self, ids):
        return ids

    def batch_decode(self, batch):
        return list(batch)


def _sequences(total_batch_list, state_of):
    """State sequences: s_0 = step 0 with reward 0, then s_j = step j with the reward of step
    j-1, up to and including the first inactive step j >= 1; actions = the responses."""
    states, actions = [], []
    for i, traj in enumerate(total_batch_list):
        seq = [{"state": state_of(i, 0), "reward": 0, "active_masks": traj[0]["active_masks"]}]
        acts = []
        for j in range(1, len(traj)):
            seq.append({"state": state_of(i, j), "reward": traj[j - 1]["rewards"],
                        "active_masks": traj[j - 1]["active_masks"]})
            acts.append(str(traj[j - 1]["responses"]))
            if not traj[j]["active_masks"]:
                break
        states.append(seq)
        actions.append(acts)
    return states, actions


class SokobanEnvironmentManager:
    """Generic manager: the states are the anchor_obs; cleaning drops self-loops."""

    calls = 0

    def state_preprocess(self, total_batch_list, tokenizer):
        type(self).calls += 1
        return _sequences(total_batch_list, lambda i, j: total_batch_list[i][j]["anchor_obs"])


class SearchEnvironmentManager(SokobanEnvironmentManager):
    pass


class AlfWorldEnvironmentManager:
    """ALFWorld-like: state = "<anchor_obs> <inventory_state>" written back into anchor_obs, the
    first inactive step's state is "You Won!"; cleaning bridges look/inventory/examine and
    transitions into a state containing "Nothing happens"."""

    def state_preprocess(self, total_batch_list, tokenizer):
        def state_of(i, j):
            step = total_batch_list[i][j]
            if j > 0 and not step["active_masks"]:
                step["anchor_obs"] = "You Won!"
            else:
                step["anchor_obs"] = f"{step['anchor_obs']} {step['inventory_state']}"
            return step["anchor_obs"]
        return _sequences(total_batch_list, state_of)


class WebshopEnvironmentManager:
    """Webshop-like: the state adds a suffix that anchor_obs does not get (so the values are
    looked up by anchor_obs among the group's states, as the reference does)."""

    def state_preprocess(self, total_batch_list, tokenizer):
        def state_of(i, j):
            obs = total_batch_list[i][j]["anchor_obs"]
            return obs + " [clicked]" if obs.endswith("#") else obs
        return _sequences(total_batch_list, state_of)


class CustomManager:
    def state_preprocess(self, total_batch_list, tokenizer):
        return _sequences(total_batch_list, lambda i, j: total_batch_list[i][j]["anchor_obs"])


class Config:
    class algorithm:
        gamma = 0.9


def config_with(gamma):
    class C:
        class algorithm:
            pass
    C.algorithm.gamma = gamma
    return C


# ----------------------------------------------------------------------------------------------
# Generated batches
# ----------------------------------------------------------------------------------------------

def generate(seed, groups=12, alfworld=False, penalty=0.0, max_steps=12, webshop=False):
    """A total_batch_list: groups of 1-9 rollouts (unequal sizes), shuffled so groups are not
    contiguous; walks on a small random graph per group with invalid actions (self-loops or
    "Nothing happens."), look/inventory/examine steps (ALFWorld), goals (finished: the step
    after the goal is inactive, as verl-agent keeps it) and truncation at max_steps."""
    rng = random.Random(seed)
    batch = []
    for g in range(groups):
        uid = f"uid-{seed}-{g}"
        n_states = rng.randint(3, 14)
        succ = {s: [rng.randrange(n_states) for _ in range(3)] for s in range(n_states)}
        goal = n_states - 1
        for r in range(rng.randint(1, 9)):
            s, steps, traj = 0, [], []
            inventory = "You carry nothing."
            length = rng.randint(1, max_steps)
            for j in range(length):
                if webshop:
                    obs = f"g{g} page {s}" + ("#" if s % 3 == 1 else "")
                else:
                    obs = f"g{g} room {s}"
                roll = rng.random()
                if roll < 0.15:
                    action, nxt, obs_next = "go nowhere", s, None  # invalid
                elif alfworld and roll < 0.3:
                    action = rng.choice(["look", "inventory", "examine drawer 1", "examine cup 2"])
                    nxt, obs_next = s, None
                else:
                    action = f"go {rng.randrange(3)}"
                    nxt, obs_next = succ[s][int(action[-1])], None
                reward = 10.0 if nxt == goal and s != goal else (
                    -penalty if action == "go nowhere" else 0.0)
                step = {"uid": uid, "traj_uid": f"{uid}-{r}", "anchor_obs": obs,
                        "rewards": reward, "active_masks": True, "responses": action,
                        "inventory_state": inventory}
                traj.append(step)
                if alfworld and action == "go nowhere" and rng.random() < 0.7:
                    obs_next = "Nothing happens."
                if action.startswith("go ") and action != "go nowhere" and rng.random() < 0.2:
                    inventory = rng.choice(["You carry a cup 1.", "You carry nothing."])
                s = nxt
                if s == goal:
                    traj.append({"uid": uid, "traj_uid": f"{uid}-{r}",
                                 "anchor_obs": f"g{g} room {s}", "rewards": 0.0,
                                 "active_masks": False, "responses": "",
                                 "inventory_state": inventory})
                    break
                if obs_next is not None and j + 1 < length:
                    # the invalid action's observation replaces the next step's
                    traj.append({"uid": uid, "traj_uid": f"{uid}-{r}", "anchor_obs": obs_next,
                                 "rewards": 0.0, "active_masks": True, "responses": "look",
                                 "inventory_state": inventory})
            # verl-agent pads with inactive steps after the end (rewards 0, same observation)
            for _ in range(rng.randint(0, 2)):
                last = dict(traj[-1])
                last.update(active_masks=False, rewards=0.0, responses="")
                traj.append(last)
            batch.append(traj)
    rng.shuffle(batch)
    return batch


# ----------------------------------------------------------------------------------------------
# The restatement of the reference's apply_rewardflow_propagation
# ----------------------------------------------------------------------------------------------

def alfworld_skip(action, next_state):
    return action in ("inventory", "look") or "examine" in action or "Nothing happens" in next_state


def restated_values(trajectories, gamma, skip):
    """One group's state values. ``trajectories``: per trajectory its (states, rewards,
    actions). States are numbered by first appearance; transition j is
    (s_j, a_j, s_{j+1}, reward(s_j), reward(s_{j+1})). Cleaning: a transition that is to be
    skipped (``skip(action, next_state)``) or a self-loop opens a bridge from its source; the
    bridge swallows every following transition that is to be skipped or leads back to the
    bridge's source, and the first other one is kept with the bridge's source. Each
    trajectory's kept tuples count once. Node rewards: first mention. V: sweeps
    V(s) <- max(V(s), gamma * max over successors V(t)) until nothing changes."""
    index = {}
    for states, _, _ in trajectories:
        for s in states:
            index.setdefault(s, len(index))
    kept = []
    for states, rewards, actions in trajectories:
        own = []
        bridge = None
        for j in range(len(states) - 1):
            src, dst = index[states[j]], index[states[j + 1]]
            t = (src, actions[j], dst, rewards[j], rewards[j + 1])
            dropped = skip(actions[j], states[j + 1])
            if bridge is None:
                if dropped or src == dst:
                    bridge = src
                    continue
                tup = t
            else:
                if dropped or dst == bridge:
                    continue
                tup = (bridge,) + t[1:]
                bridge = None
            if tup not in own:
                own.append(tup)
        kept.extend(own)
    if REFERENCE_PROPAGATE is not None:
        _, value = REFERENCE_PROPAGATE(kept, gamma=gamma, max_iter=1000)
    else:
        value = {}
        for src, _, dst, rs, rd in kept:
            value.setdefault(src, rs)
            value.setdefault(dst, rd)
        succ = defaultdict(set)
        for src, _, dst, _, _ in kept:
            succ[src].add(dst)
        for _ in range(100000):
            new = {s: max([v] + [gamma * value[t] for t in succ[s]]) for s, v in value.items()}
            if all(abs(new[s] - value[s]) <= 1e-16 for s in value):
                value = new
                break
            value = new
    return {s: value.get(i, 0.0) for s, i in index.items()}


def restated_propagation(total_batch_list, gamma, env, tokenizer):
    """The reference's documented effects on a deep copy; returns per trajectory the pair
    (step_rewards, step_rewards_abs) lists, or raises KeyError where it would."""
    batch = copy.deepcopy(total_batch_list)
    seqs, acts = env.state_preprocess(batch, tokenizer)
    skip = alfworld_skip if isinstance(env, AlfWorldEnvironmentManager) else (lambda a, s: False)
    members = defaultdict(list)
    for i, traj in enumerate(batch):
        members[traj[0]["uid"]].append(i)
    values = {}
    for uid, trajs in members.items():
        v = restated_values(
            [([e["state"] for e in seqs[i]], [e["reward"] for e in seqs[i]], acts[i])
             for i in trajs], gamma, skip)
        for i in trajs:
            values[i] = v
    out = []
    for i, traj in enumerate(batch):
        v = values[i]
        prev = v[traj[0]["anchor_obs"]]
        sr, sa = [], []
        for j in range(len(traj) - 1):
            if not traj[j]["active_masks"]:
                break
            cur = v[traj[j + 1]["anchor_obs"]]
            sr.append(cur - prev)
            sa.append(cur)
            prev = cur
        sr += [traj[j]["rewards"] for j in range(len(sr), len(traj))]
        sa += [traj[j]["rewards"] for j in range(len(sa), len(traj))]
        out.append((sr, sa, [s["anchor_obs"] for s in traj]))
    return out


def check_propagation(batch, env, gamma=0.9, **kwargs):
    tokenizer = IdentityTokenizer()
    expected = restated_propagation(batch, gamma, env, tokenizer)
    result = apply_rewardflow_propagation(batch, config_with(gamma), tokenizer, env, **kwargs)
    assert result is batch
    assert len(result) == len(expected)
    worst = 0.0
    for traj, (sr, sa, anchors) in zip(result, expected):
        assert [s["anchor_obs"] for s in traj] == anchors  # state_preprocess ran exactly once
        for step, r, a in zip(traj, sr, sa):
            worst = max(worst, abs(step["step_rewards"] - r), abs(step["step_rewards_abs"] - a))
    assert worst <= 1e-12
    return expected


@pytest.mark.parametrize("seed", range(6))
def test_propagation_generic_manager(seed):
    batch = generate(seed, groups=14)
    expected = check_propagation(batch, SokobanEnvironmentManager())
    assert any(any(x != 0 for x in sr) for sr, _, _ in expected)  # the test can fail


@pytest.mark.parametrize("seed", range(6))
def test_propagation_alfworld_manager(seed):
    batch = generate(100 + seed, groups=14, alfworld=True)
    check_propagation(batch, AlfWorldEnvironmentManager())


@pytest.mark.parametrize("gamma", [0.5, 0.95, 1.0])
def test_propagation_negative_rewards_and_gammas(gamma):
    batch = generate(7, groups=10, alfworld=True, penalty=0.1)
    check_propagation(batch, AlfWorldEnvironmentManager(), gamma=gamma)


def test_alfworld_rule_is_not_the_generic_rule():
    """The ALFWorld bridging changes the values here (else the tests above prove nothing)."""
    batch = generate(3, groups=14, alfworld=True)
    env = AlfWorldEnvironmentManager()
    with_rule = restated_propagation(batch, 0.9, env, IdentityTokenizer())
    verl_agent.NOOP_RULES["AlfWorldEnvironmentManager"], saved = None, verl_agent.alfworld_noop
    try:
        plain = apply_rewardflow_propagation(copy.deepcopy(batch), Config, IdentityTokenizer(), env)
    finally:
        verl_agent.NOOP_RULES["AlfWorldEnvironmentManager"] = saved
    differs = any(abs(step["step_rewards"] - r) > 1e-9
                  for traj, (sr, _, _) in zip(plain, with_rule) for step, r in zip(traj, sr))
    assert differs


def test_subclass_dispatches_on_the_base_manager_name():
    class MyAlfWorld(AlfWorldEnvironmentManager):
        pass
    check_propagation(generate(11, alfworld=True), MyAlfWorld())


def test_explicit_noop_predicate():
    batch = generate(21, groups=10, alfworld=True)
    # a custom manager with the same state sequences as the ALFWorld one, plus its rule
    env = AlfWorldEnvironmentManager()
    expected = restated_propagation(batch, 0.9, env, IdentityTokenizer())

    # a manager of an unknown class: refused without noop=, equal with the predicate
    env2 = type("Unknown", (), {"state_preprocess": AlfWorldEnvironmentManager.state_preprocess})()
    with pytest.raises(ValueError, match="noop"):
        apply_rewardflow_propagation(copy.deepcopy(batch), Config, IdentityTokenizer(), env2)
    calls = []

    def rule(action, state, next_state):
        calls.append(action)
        return alfworld_skip(action, next_state)
    apply_rewardflow_propagation(batch, Config, IdentityTokenizer(), env2, noop=rule)
    assert calls
    for traj, (sr, sa, _) in zip(batch, expected):
        for step, r, a in zip(traj, sr, sa):
            assert abs(step["step_rewards"] - r) <= 1e-12 and abs(step["step_rewards_abs"] - a) <= 1e-12


def test_noop_false_is_self_loop_removal():
    batch = generate(5, groups=8)
    check_propagation(batch, CustomManager(), noop=False)


def test_groups_out_of_order_and_unequal_sizes():
    batch = generate(9, groups=20)
    uids = [t[0]["uid"] for t in batch]
    runs = sum(1 for k in range(1, len(uids)) if uids[k] != uids[k - 1]) + 1
    assert runs > len(set(uids))  # not contiguous
    sizes = {u: uids.count(u) for u in uids}
    assert len(set(sizes.values())) > 1  # unequal
    check_propagation(batch, SokobanEnvironmentManager())


def test_webshop_like_lookup_by_anchor_obs():
    """anchor_obs differs from the state on some steps: values are looked up by anchor_obs
    among the group's states; an anchor_obs that is no state of its group is refused."""
    env = WebshopEnvironmentManager()
    for seed in range(40):
        batch = generate(200 + seed, groups=6, webshop=True)
        try:
            restated_propagation(batch, 0.9, env, IdentityTokenizer())
        except KeyError:
            with pytest.raises(ValueError, match=r"total_batch_list\[\d+\]\[\d+\]: anchor_obs"):
                apply_rewardflow_propagation(batch, Config, IdentityTokenizer(), env)
            continue
        check_propagation(batch, env)


def test_one_step_trajectories_and_first_step_inactive():
    batch = [
        [{"uid": "a", "anchor_obs": "x", "rewards": 1.0, "active_masks": True, "responses": "go"}],
        [{"uid": "a", "anchor_obs": "x", "rewards": 0.5, "active_masks": False, "responses": "go"},
         {"uid": "a", "anchor_obs": "y", "rewards": 2.0, "active_masks": False, "responses": ""}],
        [{"uid": "a", "anchor_obs": "x", "rewards": 3.0, "active_masks": True, "responses": "go"},
         {"uid": "a", "anchor_obs": "y", "rewards": 0.0, "active_masks": False, "responses": ""}],
    ]
    check_propagation(batch, SokobanEnvironmentManager())
    assert batch[0][0]["step_rewards"] == 1.0            # last step keeps its reward
    assert batch[1][0]["step_rewards"] == 0.5            # inactive first step keeps its reward
    assert batch[2][0]["step_rewards_abs"] == 0.5        # V(y) = 0.5 (first seen in trajectory 1)


def test_numpy_scalar_rewards_and_states():
    batch = generate(13, groups=6)
    for traj in batch:
        for step in traj:
            step["rewards"] = np.float64(step["rewards"])
            step["active_masks"] = np.bool_(step["active_masks"])
    check_propagation(batch, SokobanEnvironmentManager())


def test_array_states():
    """States that are arrays are equal when their elements are (to_hashable's rule)."""
    batch = generate(17, groups=5)
    for traj in batch:
        for step in traj:
            step["anchor_obs"] = np.array([ord(c) for c in step["anchor_obs"]], dtype=np.int64)
    tokenizer = IdentityTokenizer()
    env = SokobanEnvironmentManager()
    text = copy.deepcopy(batch)
    for traj in text:
        for step in traj:
            step["anchor_obs"] = "".join(map(chr, step["anchor_obs"].tolist()))
    expected = restated_propagation(text, 0.9, env, tokenizer)
    apply_rewardflow_propagation(batch, Config, tokenizer, env)
    for traj, (sr, sa, _) in zip(batch, expected):
        for step, r, a in zip(traj, sr, sa):
            assert abs(step["step_rewards"] - r) <= 1e-12 and abs(step["step_rewards_abs"] - a) <= 1e-12


def test_state_preprocess_called_once_with_the_batch_and_tokenizer():
    seen = []

    class SokobanEnvironmentManager:
        def state_preprocess(self, total_batch_list, tokenizer):
            seen.append((total_batch_list, tokenizer))
            return _sequences(total_batch_list, lambda i, j: total_batch_list[i][j]["anchor_obs"])
    batch, tok = generate(1, groups=3), IdentityTokenizer()
    apply_rewardflow_propagation(batch, Config, tok, SokobanEnvironmentManager())
    assert len(seen) == 1 and seen[0][0] is batch and seen[0][1] is tok


@pytest.mark.parametrize("key", ["anchor_obs", "rewards", "active_masks", "uid"])
def test_missing_key_is_refused_naming_row_and_key(key):
    batch = generate(2, groups=4)
    i, j = 3, 0
    del batch[i][j][key]
    with pytest.raises(ValueError, match=rf"total_batch_list\[{i}\]\[{j}\]: {key}: missing"):
        apply_rewardflow_propagation(batch, Config, IdentityTokenizer(), SokobanEnvironmentManager())


def test_missing_rewards_on_a_padding_step():
    """The reference writes a padding step's own rewards into step_rewards: it must be there."""
    batch = generate(2, groups=4)
    i = next(k for k, t in enumerate(batch) if len(t) > 2 and not t[-1]["active_masks"])
    j = len(batch[i]) - 1
    del batch[i][j]["rewards"]
    with pytest.raises(ValueError, match=rf"total_batch_list\[{i}\]\[{j}\]: rewards: missing"):
        apply_rewardflow_propagation(batch, Config, IdentityTokenizer(), SokobanEnvironmentManager())


def test_bad_inputs_are_refused():
    env = SokobanEnvironmentManager()
    with pytest.raises(ValueError, match=r"total_batch_list\[1\]"):
        apply_rewardflow_propagation([generate(1, groups=1)[0], []], Config, IdentityTokenizer(), env)
    with pytest.raises(ValueError, match="config.algorithm.gamma"):
        apply_rewardflow_propagation(generate(1), config_with(1.5), IdentityTokenizer(), env)
    batch = generate(1, groups=2)
    batch[0][0]["rewards"] = float("nan")
    if len(batch[0]) > 1 and batch[0][0]["active_masks"]:
        with pytest.raises(ValueError, match="reward: not a finite number"):
            apply_rewardflow_propagation(batch, Config, IdentityTokenizer(), env)

    class Short(SokobanEnvironmentManager):
        def state_preprocess(self, total_batch_list, tokenizer):
            states, actions = super().state_preprocess(total_batch_list, tokenizer)
            return states[:-1], actions[:-1]
    with pytest.raises(ValueError, match="state_preprocess"):
        apply_rewardflow_propagation(generate(1), Config, IdentityTokenizer(), Short())


@pytest.mark.parametrize("damage, message", [
    (lambda entry: entry.pop("state"), "state: missing"),
    (lambda entry: entry.pop("reward"), "reward: missing"),
    ("not a dict", "expected a dict, got str"),
])
def test_malformed_state_sequences_name_the_entry(damage, message):
    where = []

    class Damaged(SokobanEnvironmentManager):
        def state_preprocess(self, total_batch_list, tokenizer):
            states, actions = super().state_preprocess(total_batch_list, tokenizer)
            i = next(i for i, seq in enumerate(states) if i > 0 and len(seq) >= 2)
            where.append((i, 1))
            if callable(damage):
                damage(states[i][1])
            else:
                states[i][1] = damage
            return states, actions
    with pytest.raises(ValueError) as error:
        apply_rewardflow_propagation(generate(2, groups=3), Config, IdentityTokenizer(), Damaged())
    (i, j), = where
    assert str(error.value) == f"envs.state_preprocess: sequence[{i}][{j}]: {message}"


@pytest.mark.parametrize("entry, reward, message", [
    (0, 1, r"sequence \d+ entry 0: reward: must be 0 \(the first state carries no reward\), got 1$"),
    (1, float("inf"), r"sequence \d+ entry 1: reward: not a finite number \(inf\)$"),
    (1, "high", r"sequence \d+ entry 1: reward: not a finite number \('high'\)$"),
])
def test_bad_rewards_are_named_as_given(entry, reward, message):
    class Rewarded(SokobanEnvironmentManager):
        def state_preprocess(self, total_batch_list, tokenizer):
            states, actions = super().state_preprocess(total_batch_list, tokenizer)
            next(seq for seq in states if len(seq) > 1)[entry]["reward"] = reward
            return states, actions
    with pytest.raises(ValueError, match=message):
        apply_rewardflow_propagation(generate(4, groups=3), Config, IdentityTokenizer(), Rewarded())


def test_text_states_without_utf8_form_are_states_too():
    # A lone surrogate has no UTF-8 form: the engine refuses such text, so the drop-in keys the
    # states in Python instead; the result equals the batch with the surrogates replaced.
    batch = generate(3, groups=2)
    clean = copy.deepcopy(batch)
    for traj, clean_traj in zip(batch, clean):
        for step, clean_step in zip(traj, clean_traj):
            if isinstance(step["anchor_obs"], str):
                step["anchor_obs"] = step["anchor_obs"] + "\udc80"
                clean_step["anchor_obs"] = clean_step["anchor_obs"] + "?"
    env = SokobanEnvironmentManager()
    apply_rewardflow_propagation(batch, Config, IdentityTokenizer(), env)
    apply_rewardflow_propagation(clean, Config, IdentityTokenizer(), env)
    assert [[s["step_rewards"] for s in t] for t in batch] == [[s["step_rewards"] for s in t] for t in clean]


# ----------------------------------------------------------------------------------------------
# compute_rewardflow_outcome_advantage
# ----------------------------------------------------------------------------------------------

def restated_advantage(token_level_rewards, step_rewards, response_mask, anchor_obs, index,
                       epsilon, w, mode):
    """Explicit loops in float64: episode score = row sum; groups by index (every row once);
    step groups by (index, anchor_obs); one-row group: episode mean 0 std 1, step mean = itself."""
    tlr = np.asarray(token_level_rewards, dtype=np.float64)
    bs, length = tlr.shape
    scores = [math.fsum(tlr[i]) for i in range(bs)]
    steps = [float(x) for x in step_rewards]

    def normalise(values, keys, single_mean_is_self):
        members = defaultdict(list)
        for i, k in enumerate(keys):
            members[k].append(i)
        out = [0.0] * len(values)
        for rows in members.values():
            xs = [values[i] for i in rows]
            if len(xs) == 1:
                mean, std = (xs[0] if single_mean_is_self else 0.0), 1.0
            else:
                mean = math.fsum(xs) / len(xs)
                std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
            for i in rows:
                out[i] = values[i] - mean if mode == "mean_norm" else (values[i] - mean) / (std + epsilon)
        return np.array(out)

    episode = normalise(scores, list(index), False)
    step = normalise(steps, [(index[i], anchor_obs[i]) for i in range(bs)], True)
    mask = np.asarray(response_mask, dtype=np.float64)
    return episode[:, None] * mask + w * (step[:, None] * mask)


def advantage_batch(seed, bs=300, length=7):
    rng = np.random.default_rng(seed)
    index = np.array([f"u{k}" for k in rng.integers(0, 23, bs)], dtype=object)  # out of order
    index[0] = "lonely"  # a group of one row
    anchor = np.array([f"obs {k}" for k in rng.integers(0, 9, bs)], dtype=object)
    traj = np.array([f"t{k}" for k in rng.integers(0, 60, bs)], dtype=object)
    tlr = np.zeros((bs, length))
    ends = rng.integers(1, length + 1, bs)
    tlr[np.arange(bs), ends - 1] = rng.choice([0.0, 10.0, -0.1, 3.5], bs)
    mask = (np.arange(length)[None, :] < ends[:, None]).astype(np.int64)
    steps = rng.normal(size=bs) * rng.choice([0.0, 1.0], bs)
    return tlr, steps, mask, anchor, index, traj


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
@pytest.mark.parametrize("w", [1.0, 0.5])
@pytest.mark.parametrize("epsilon", [1e-6, 1e-3])
def test_advantage_numpy_float64(mode, w, epsilon):
    tlr, steps, mask, anchor, index, traj = advantage_batch(1)
    got, returns = compute_rewardflow_outcome_advantage(
        tlr, steps, mask, anchor, index, traj, epsilon=epsilon, step_advantage_w=w, mode=mode)
    assert got is returns and isinstance(got, np.ndarray)
    assert got.dtype == np.float64 and got.shape == tlr.shape
    want = restated_advantage(tlr, steps, mask, anchor, index, epsilon, w, mode)
    assert np.abs(got - want).max() <= 1e-12
    assert np.abs(want).max() > 1  # the test can fail
    assert (got[mask == 0] == 0).all()


def _close32(got, want):
    scale = np.abs(want).max()
    assert np.all(np.abs(got.astype(np.float64) - want) <= 1e-6 * np.maximum(np.abs(want), scale))


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
def test_advantage_numpy_float32(mode):
    tlr, steps, mask, anchor, index, traj = advantage_batch(2)
    tlr32 = tlr.astype(np.float32)
    got, _ = compute_rewardflow_outcome_advantage(
        tlr32, steps.astype(np.float32), mask.astype(bool), anchor, index, traj, mode=mode)
    assert got.dtype == np.float32
    want = restated_advantage(tlr32, steps.astype(np.float32), mask, anchor, index, 1e-6, 1.0, mode)
    _close32(got, want)


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_advantage_torch(mode, dtype):
    torch = pytest.importorskip("torch")
    tlr, steps, mask, anchor, index, traj = advantage_batch(3)
    t_dtype = getattr(torch, dtype)
    tlr_t = torch.tensor(tlr, dtype=t_dtype)
    steps_t = torch.tensor(steps, dtype=torch.float32)
    mask_t = torch.tensor(mask)
    got, returns = compute_rewardflow_outcome_advantage(
        tlr_t, steps_t, mask_t, anchor, index, traj, mode=mode)
    assert got is returns and isinstance(got, torch.Tensor)
    assert got.dtype == t_dtype and got.device.type == tlr_t.device.type
    assert tuple(got.shape) == tlr.shape
    want = restated_advantage(tlr_t.double().numpy(), steps_t.double().numpy(), mask, anchor, index,
                              1e-6, 1.0, mode)
    if dtype == "float64":
        assert np.abs(got.numpy() - want).max() <= 1e-12
    else:
        _close32(got.numpy(), want)


def test_advantage_array_observations():
    tlr, steps, mask, _, index, traj = advantage_batch(4, bs=50)
    rng = np.random.default_rng(0)
    anchor = np.empty(50, dtype=object)
    for i in range(50):
        anchor[i] = np.array([rng.integers(0, 2), 1])  # arrays: grouped by their elements
    got, _ = compute_rewardflow_outcome_advantage(tlr, steps, mask, anchor, index, traj)
    keys = np.array([str(a.tolist()) for a in anchor], dtype=object)
    want = restated_advantage(tlr, steps, mask, keys, index, 1e-6, 1.0, "mean_norm")
    assert np.abs(got - want).max() <= 1e-12


def test_advantage_refusals():
    tlr, steps, mask, anchor, index, traj = advantage_batch(5, bs=20)
    with pytest.raises(ValueError, match="Unknown mode"):
        compute_rewardflow_outcome_advantage(tlr, steps, mask, anchor, index, traj, mode="x")
    with pytest.raises(ValueError, match="step_rewards"):
        compute_rewardflow_outcome_advantage(tlr, steps[:-1], mask, anchor, index, traj)
    with pytest.raises(ValueError, match="anchor_obs"):
        compute_rewardflow_outcome_advantage(tlr, steps, mask, anchor[:-1], index, traj)
    with pytest.raises(ValueError, match="index"):
        compute_rewardflow_outcome_advantage(tlr, steps, mask, anchor, index[:3], traj)
    with pytest.raises(ValueError, match="response_mask"):
        compute_rewardflow_outcome_advantage(tlr, steps, mask[:, :2], anchor, index, traj)
    bad = steps.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"row 7: step_rewards"):
        compute_rewardflow_outcome_advantage(tlr, bad, mask, anchor, index, traj)
    bad = tlr.copy()
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match=r"row 4: token_level_rewards"):
        compute_rewardflow_outcome_advantage(bad, steps, mask, anchor, index, traj)
