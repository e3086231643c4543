"""Drop-ins for the reference trainer's two RewardFlow functions (verl-agent style).

The reference implementation (tmlr-group/RewardFlow, a verl-agent fork) calls, once per
training step, ``apply_rewardflow_propagation(total_batch_list, config, tokenizer, envs)``
(``rewardflow/core_rewardflow.py``: per group state extraction, trajectory cleaning, 1000
networkx sweeps, then ``step_rewards`` / ``step_rewards_abs`` in every step dict) and
``compute_rewardflow_outcome_advantage(...)`` (episode and step-group normalisation). The two
functions below have the same signatures, defaults, effects and return shapes, and each makes
**one** engine ``score`` call for the whole batch:

.. code-block:: python

    # from rewardflow.core_rewardflow import apply_rewardflow_propagation, compute_rewardflow_outcome_advantage
    from rewardflow_engine.verl_agent import apply_rewardflow_propagation, compute_rewardflow_outcome_advantage

Differences from the reference, all on inputs where it is wrong or crashes:

- groups are the trajectories that share their first step's ``uid``, wherever they sit in
  ``total_batch_list`` and however many there are (the reference splits the list into runs of
  equal ``uid`` and maps trajectory ``i`` to run ``i * runs // trajectories``, which is right
  only for contiguous groups of equal size);
- the values are the exact max-decay limit, not 1000 sweeps (equal wherever those converged);
- bad input raises ``ValueError`` naming the row (``total_batch_list[i][j]`` or the batch row)
  and the key, instead of ``KeyError`` / ``IndexError`` or a silent mix-up; nothing is printed.
"""
import math
from itertools import count as _naturals
from numbers import Number

import numpy as np

from . import InvalidInputError, _core, score

__all__ = [
    "apply_rewardflow_propagation", "compute_rewardflow_outcome_advantage", "alfworld_noop",
    "NOOP_RULES",
]


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------

def _hashable(x):
    """The key the reference groups states by: equal keys are the same state.

    Strings, numbers and bools are their own key; NumPy scalars their Python value; arrays,
    lists and tuples the tuple of their (flattened) elements' keys; dicts the sorted tuple of
    their items' keys.
    """
    if isinstance(x, (str, bool, int, float)):
        return x
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return tuple(_hashable(e) for e in x.ravel().tolist())
    if isinstance(x, (list, tuple)):
        return tuple(_hashable(e) for e in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in x.items()))
    try:
        hash(x)
    except TypeError:
        raise TypeError(f"unsupported state type {type(x).__name__}") from None
    return x


class _Interner:
    """Equal states (by ``_hashable``) get equal consecutive integer keys 0, 1, 2, ..."""

    __slots__ = ("ids",)

    def __init__(self):
        self.ids = {}

    def keys(self, values):
        ids = self.ids
        try:  # hashable states (str, numbers, tuples): dict-speed interning
            if not ids:
                ids.update(zip(dict.fromkeys(values), _naturals()))
            else:
                for v in dict.fromkeys(values):
                    ids.setdefault(v, len(ids))
            return np.fromiter(map(ids.__getitem__, values), dtype=np.uint64, count=len(values))
        except TypeError:  # some state is unhashable (ndarray, list, dict): its _hashable key
            return np.fromiter(map(self.key, values), dtype=np.uint64, count=len(values))

    def key(self, value):
        ids = self.ids
        try:
            return ids.setdefault(value, len(ids))
        except TypeError:  # unhashable (ndarray, list, dict): its _hashable key
            value = _hashable(value)
            return ids.setdefault(value, len(ids))


def _row_error(where, key, message):
    return ValueError(f"{where}: {key}: {message}")


def _gamma(config):
    try:
        algorithm = config.algorithm if hasattr(config, "algorithm") else config["algorithm"]
        gamma = algorithm.gamma if hasattr(algorithm, "gamma") else algorithm["gamma"]
    except (KeyError, TypeError) as error:
        raise ValueError("config.algorithm.gamma: missing") from error
    if not isinstance(gamma, Number) or not 0.0 < float(gamma) <= 1.0:
        raise ValueError(f"config.algorithm.gamma: must be a number in (0, 1], got {gamma!r}")
    return float(gamma)


# ----------------------------------------------------------------------------------------------
# Cleaning rules (the env managers' clean_trajectory, as the engine's noop flag)
# ----------------------------------------------------------------------------------------------

_ALFWORLD_LOOK = frozenset(("inventory", "look"))


def alfworld_noop(action, state, next_state):
    """The ALFWorld manager's bridging rule for the transition ``state --action--> next_state``.

    True when the action only looks (``inventory``, ``look``, any action containing
    ``examine``) or the next state says ``Nothing happens``. The engine bridges such a
    transition (and drops self-loops, which every manager does).
    """
    return (action in _ALFWORLD_LOOK or "examine" in action
            or (isinstance(next_state, (str, list, tuple)) and "Nothing happens" in next_state))


#: ``clean_trajectory`` rule of each reference env manager, by class name: ``alfworld_noop``
#: for ALFWorld, ``None`` (self-loops only) for the others.
NOOP_RULES = {
    "AlfWorldEnvironmentManager": alfworld_noop,
    "SearchEnvironmentManager": None,
    "SokobanEnvironmentManager": None,
    "WebshopEnvironmentManager": None,
}


def _noop_rule(envs, noop):
    if noop is not None:
        if noop is False:
            return None
        if not callable(noop):
            raise ValueError(f"noop: expected a predicate noop(action, state, next_state) or False, "
                             f"got {type(noop).__name__}")
        return noop
    for cls in type(envs).__mro__:
        if cls.__name__ in NOOP_RULES:
            return NOOP_RULES[cls.__name__]
    raise ValueError(
        f"envs: no known clean_trajectory rule for {type(envs).__name__} (known: "
        f"{', '.join(sorted(NOOP_RULES))}); pass noop=predicate(action, state, next_state), "
        "or noop=False when the manager only drops self-loops")


def _diagnose(total_batch_list):
    """The first step dict that lacks what the reference reads, as a ValueError (or None)."""
    if not isinstance(total_batch_list, (list, tuple)):
        return ValueError(f"total_batch_list: expected a list of trajectories, got "
                          f"{type(total_batch_list).__name__}")
    for i, traj in enumerate(total_batch_list):
        where = f"total_batch_list[{i}]"
        if not isinstance(traj, (list, tuple)) or not traj:
            return ValueError(f"{where}: expected a non-empty list of step dicts")
        for j, step in enumerate(traj):
            if not isinstance(step, dict):
                return ValueError(f"{where}[{j}]: expected a dict, got {type(step).__name__}")
            for key in ("anchor_obs", "rewards", "active_masks"):
                if key not in step:
                    return _row_error(f"{where}[{j}]", key, "missing")
        if "uid" not in traj[0]:
            return _row_error(f"{where}[0]", "uid", "missing")
    return None


# ----------------------------------------------------------------------------------------------
# apply_rewardflow_propagation
# ----------------------------------------------------------------------------------------------

def apply_rewardflow_propagation(total_batch_list, config, tokenizer, envs, *, noop=None):
    """Writes RewardFlow's ``step_rewards`` / ``step_rewards_abs`` into every step dict.

    ``total_batch_list``: one list of step dicts per trajectory (keys ``uid`` on step 0,
    ``anchor_obs``, ``rewards``, ``active_masks``, and what ``envs.state_preprocess`` reads,
    e.g. ``responses``). Calls ``envs.state_preprocess(total_batch_list, tokenizer)`` first,
    exactly as the reference does (it may rewrite ``anchor_obs``), and builds each group's state
    graph from the state sequences it returns: a group is the trajectories whose step 0 has the
    same ``uid``; the transition ``s_j -> s_{j+1}`` carries the rewards the sequences attach;
    the manager's ``clean_trajectory`` rule becomes the engine's ``noop`` flag (``NOOP_RULES``,
    by class name; ``noop=`` overrides it with a predicate ``noop(action, state, next_state)``,
    or ``False`` for self-loop removal only). ``V`` is the exact max-decay value with
    ``gamma = config.algorithm.gamma``: ``V(s) = sup over walks s->...->t of gamma^len * r(t)``,
    0 for a state of the group in no kept transition.

    Then, for trajectory steps ``j < min(first inactive step, len - 1)``:
    ``step_rewards = V(anchor_obs[j+1]) - V(anchor_obs[j])`` and
    ``step_rewards_abs = V(anchor_obs[j+1])`` (Python floats); every other step gets its own
    ``rewards`` in both keys. Returns ``total_batch_list`` (updated in place).

    Raises ``ValueError`` naming ``total_batch_list[i][j]`` and the key for a missing key, an
    empty trajectory, an ``anchor_obs`` that is no state of its group, or state sequences that
    do not match the batch.
    """
    gamma = _gamma(config)
    rule = _noop_rule(envs, noop)
    try:
        raw_state_list, raw_action_list = envs.state_preprocess(total_batch_list, tokenizer)
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        problem = _diagnose(total_batch_list)
        if problem is not None:
            raise problem from error
        raise
    count = len(total_batch_list)
    if len(raw_state_list) != count or len(raw_action_list) != count:
        raise ValueError(f"envs.state_preprocess: returned {len(raw_state_list)} state and "
                         f"{len(raw_action_list)} action sequences for {count} trajectories")
    if count == 0:
        return total_batch_list

    # Pass 1: one engine row per entry of the state sequences (flat lists, then NumPy).
    sequences = [seq if isinstance(seq, (list, tuple)) else list(seq) for seq in raw_state_list]
    objs, reward_bytes, lengths, all_text = _core.gather_states(sequences, "envs.state_preprocess: sequence")
    for i, (length, actions) in enumerate(zip(lengths, raw_action_list)):
        if length == 0:
            raise ValueError(f"envs.state_preprocess: sequence {i} is empty")
        if len(actions) < length - 1:
            raise ValueError(f"envs.state_preprocess: sequence {i}: {len(actions)} actions for "
                             f"{length} states")
    try:
        uids = [traj[0]["uid"] for traj in total_batch_list]
    except (KeyError, IndexError, TypeError):
        raise _diagnose(total_batch_list) or ValueError("total_batch_list: bad trajectory") from None
    group_of = _Interner().keys(uids).astype(np.int64)
    n = len(objs)
    lengths = np.array(lengths, dtype=np.int64)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts, ends = offsets[:-1], offsets[1:]
    if reward_bytes is not None:  # every reward a real number (int or float)
        sequence_reward = np.frombuffer(reward_bytes, dtype=np.float64)
        seq_rewards = None  # the objects themselves are gathered again for a message
    else:
        (seq_rewards,), _ = _core.gather(sequences, ("reward",), "envs.state_preprocess: sequence")
        try:
            sequence_reward = np.array(seq_rewards, dtype=np.float64)
        except (TypeError, ValueError):
            sequence_reward = np.array([x if _finite(x) else np.nan for x in seq_rewards])
    # Row j's reward is the one of the action out of s_j: the reward s_{j+1} carries.
    reward = np.empty(n, dtype=np.float64)
    reward[:-1] = sequence_reward[1:]
    reward[ends - 1] = 0.0
    if not np.isfinite(reward).all():
        row = int(np.flatnonzero(~np.isfinite(reward))[0]) + 1
        i = int(np.searchsorted(ends, row, side="right"))
        raise ValueError(f"envs.state_preprocess: sequence {i} entry {row - int(starts[i])}: "
                         f"reward: not a finite number ({_reward_object(sequences, seq_rewards, row)!r})")
    if (sequence_reward[starts] != 0).any():
        i = int(np.flatnonzero(sequence_reward[starts] != 0)[0])
        raise ValueError(f"envs.state_preprocess: sequence {i} entry 0: reward: must be 0 "
                         f"(the first state carries no reward), got {_reward_object(sequences, seq_rewards, int(starts[i]))!r}")
    noops = None
    if rule is not None:
        noops = []
        nothing = {}  # text -> "Nothing happens" in text (the ALFWorld rule)
        for i, actions in enumerate(raw_action_list):
            base, length = int(starts[i]), int(lengths[i])
            if rule is alfworld_noop:
                noops.extend([a in _ALFWORLD_LOOK or "examine" in a
                              or _has_nothing(nothing, objs[base + j + 1])
                              for j, a in enumerate(actions[:length - 1])])
            else:
                noops.extend([bool(rule(actions[j], objs[base + j], objs[base + j + 1]))
                              for j in range(length - 1)])
            noops.append(False)
        noops = np.array(noops, dtype=np.bool_)
    row_group = np.repeat(group_of, lengths)
    # Text states go to the engine as they are (it interns them as UTF-8 bytes: equal texts,
    # equal states); any other state type, or text that is not UTF-8, as _Interner keys.
    states = _Interner()
    keys = None
    columns = dict(noop=noops, operator="max-decay", gamma=gamma)
    trajectory = np.repeat(np.arange(count, dtype=np.int64), lengths)
    step = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
    out = None
    if all_text:
        try:
            out = score(row_group, trajectory, step, objs, reward, **columns)
        except InvalidInputError:  # a lone surrogate: no UTF-8 form, but a valid Python key
            pass
    if out is None:
        keys = states.keys(objs)
        out = score(row_group, trajectory, step, keys, reward, **columns)
    value = out["value"]
    step_reward = np.empty(n, dtype=np.float64)
    step_reward[:-1] = value[1:] - value[:-1]

    # Pass 2: write the step rewards, V(anchor_obs[j+1]) - V(anchor_obs[j]), into the dicts:
    # in C where steps 0..k have their own state entries as anchor_obs (the same objects, or
    # equal ones: every reference manager but Webshop's), else step by step below.
    exact = _core.write_step_rewards(total_batch_list, objs, starts, lengths, step_reward, value)
    if exact:
        if keys is None:
            keys = states.keys(objs)
        at = _Lookup(value.tolist(), keys, row_group, states, group_of)
        for i in exact:
            base, length = int(starts[i]), int(lengths[i])
            _write_exact(total_batch_list[i], i, at, objs, base, length)
    return total_batch_list


def _write_exact(traj, i, at, objs, base, length):
    """Trajectory i step by step as the reference reads it (anchor_obs looked up by value)."""
    prev = None
    last = len(traj) - 1
    for j, step in enumerate(traj):
        try:
            if j < last and step["active_masks"]:
                if prev is None:
                    prev = at.value(traj, i, 0, objs, base, length)
                cur = at.value(traj, i, j + 1, objs, base, length)
                step["step_rewards"] = cur - prev
                step["step_rewards_abs"] = cur
                prev = cur
            else:
                last = -1  # the first inactive step ends the range
                step["step_rewards"] = step["rewards"]
                step["step_rewards_abs"] = step["rewards"]
        except KeyError as error:
            raise _row_error(f"total_batch_list[{i}][{j}]", error.args[0], "missing") from None


def _reward_object(sequences, rewards, row):
    """Entry ``row``'s ``reward`` object as the state sequences hold it, for messages."""
    if rewards is None:
        (rewards,), _ = _core.gather(sequences, ("reward",), "envs.state_preprocess: sequence")
    return rewards[row]


def _finite(x):
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _has_nothing(cache, state):
    """``"Nothing happens" in state`` for text states (cached by text)."""
    if type(state) is str:
        verdict = cache.get(state)
        if verdict is None:
            verdict = cache[state] = "Nothing happens" in state
        return verdict
    return isinstance(state, (list, tuple)) and "Nothing happens" in state


def _same_state(a, b):
    if type(a) is str and type(b) is str:
        return a == b
    try:
        return _hashable(a) == _hashable(b)
    except TypeError:
        return False


class _Lookup:
    """V(anchor_obs) in a trajectory's group: the value of its own state entry when the
    anchor_obs is that entry's state, else of the group's first entry with that state."""

    def __init__(self, values, keys, row_group, states, group_of):
        self.values, self.keys, self.row_group = values, keys, row_group
        self.states, self.group_of = states, group_of
        self.rows = None

    def value(self, traj, i, j, objs, base, length):
        anchor = traj[j]["anchor_obs"]
        if j < length and (anchor is objs[base + j] or _same_state(anchor, objs[base + j])):
            return self.values[base + j]
        if self.rows is None:  # (group, state key) -> first row, built on first need
            self.rows = {}
            for row, pair in enumerate(zip(self.row_group.tolist(), self.keys.tolist())):
                self.rows.setdefault(pair, row)
        try:
            key = self.states.ids.get(_hashable(anchor))
        except TypeError:
            key = None
        row = self.rows.get((int(self.group_of[i]), key))
        if row is None:
            raise _row_error(f"total_batch_list[{i}][{j}]", "anchor_obs",
                             "not a state of its group's state sequences")
        return self.values[row]


# ----------------------------------------------------------------------------------------------
# compute_rewardflow_outcome_advantage
# ----------------------------------------------------------------------------------------------

def compute_rewardflow_outcome_advantage(token_level_rewards, step_rewards, response_mask,
                                         anchor_obs, index, traj_index, epsilon=1e-6,
                                         step_advantage_w=1.0, mode="mean_norm"):
    """RewardFlow's advantages: episode normalisation plus weighted step-group normalisation.

    Row ``i``'s episode score is ``token_level_rewards[i].sum(-1)``; with ``mean_norm``,
    ``A_e(i) = score_i - mean_g`` over the rows of its ``index`` group ``g`` (every row counts);
    with ``mean_std_norm``, ``(score_i - mean_g) / (std_g + epsilon)``, ``std`` unbiased (a group
    of one row: mean 0, std 1). The step advantage ``A_s`` applies the same normalisation to
    ``step_rewards`` within the rows that share ``(index, anchor_obs)`` (a step group of one row
    gets 0). Returns ``(scores, scores)`` with ``scores = (A_e + step_advantage_w * A_s) *
    response_mask`` of shape ``(bs, response_length)`` (the reference's ``A_e * mask + w * A_s
    * mask``; the sums are exact, the advantages rounded once to the output dtype), in the
    type, dtype and device of ``token_level_rewards``: torch tensors (any device; torch's type
    promotion with the mask, as in the reference) or NumPy arrays (float dtype kept; integer
    rewards give float64).
    ``traj_index`` is checked and, as in the reference, not used.
    """
    if mode == "mean_std_norm":
        pass
    elif mode == "mean_norm":
        pass
    else:
        raise ValueError(f"Unknown mode: {mode}")
    torch = _torch_of(token_level_rewards)
    if torch is not None:
        if token_level_rewards.dim() != 2:
            raise ValueError(f"token_level_rewards: expected shape (bs, response_length), got "
                             f"{tuple(token_level_rewards.shape)}")
        with torch.no_grad():
            scores = token_level_rewards.sum(dim=-1).detach().to("cpu", torch.float64).numpy()
    else:
        token_level_rewards = np.asarray(token_level_rewards)
        if token_level_rewards.ndim != 2:
            raise ValueError(f"token_level_rewards: expected shape (bs, response_length), got "
                             f"{token_level_rewards.shape}")
        scores = token_level_rewards.sum(axis=-1).astype(np.float64)
    bs, length = token_level_rewards.shape
    if tuple(response_mask.shape) != (bs, length):
        raise ValueError(f"response_mask: shape {tuple(response_mask.shape)}, token_level_rewards "
                         f"has {(bs, length)}")
    steps = _to_float64(step_rewards, "step_rewards")
    if steps.shape != (bs,):
        raise ValueError(f"step_rewards: shape {steps.shape}, expected ({bs},)")
    for name, column in (("anchor_obs", anchor_obs), ("index", index), ("traj_index", traj_index)):
        if len(column) != bs:
            raise ValueError(f"{name}: {len(column)} rows, token_level_rewards has {bs}")
    for name, column in (("token_level_rewards", scores), ("step_rewards", steps)):
        finite = np.isfinite(column)
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"row {row}: {name}: not a finite number ({column[row]})")
    if not isinstance(epsilon, Number) or not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon: must be a finite number >= 0, got {epsilon!r}")

    # One engine call: rows 0..bs-1 are the episode rows (group "e<g>", each row its own
    # one-row trajectory and its own state, reward = score), rows bs..2bs-1 the step rows
    # (group "s<g>", one-row trajectories, state = anchor_obs, reward = step reward, which a
    # trajectory's last row keeps as its step_reward). Only the episode rows' episode
    # advantage and the step rows' step advantage are used.
    groups = _Interner()
    group_ids = groups.keys(_column_values(index)).tolist()
    obs_keys = _Interner().keys(_column_values(anchor_obs))
    names = [str(g) for g in range(len(groups.ids))]
    group = [f"e{names[g]}" for g in group_ids] + [f"s{names[g]}" for g in group_ids]
    rows = [str(r) for r in range(bs)]
    state = np.concatenate([np.arange(bs, dtype=np.uint64), obs_keys])
    std_mode = mode == "mean_std_norm" and epsilon == 1e-6
    out = score(group, rows + rows, np.zeros(2 * bs, dtype=np.int64), state,
                np.concatenate([scores, steps]),
                advantage="mean_std_norm" if std_mode else "mean_norm", step_weight=1.0)
    episode = out["episode_advantage"][:bs]
    step = out["step_advantage"][bs:]
    if mode == "mean_std_norm" and not std_mode:
        # epsilon other than the engine's 1e-6: the engine's deviations over the unbiased std.
        episode = _divide_by_std(episode, np.array(group_ids), 1.0, epsilon)
        step_groups = np.unique(np.array(group_ids, dtype=np.int64) * (len(obs_keys) + 1)
                                + np.array(obs_keys, dtype=np.int64), return_inverse=True)[1]
        step = _divide_by_std(step, step_groups.ravel(), None, epsilon)

    # A_e * mask + w * (A_s * mask), as one product: (A_e + w * A_s) * mask (equal for a 0/1
    # mask; within rounding for fractional masks).
    combined = episode + step_advantage_w * step
    if torch is not None:
        combined = torch.from_numpy(combined).to(device=token_level_rewards.device,
                                                 dtype=token_level_rewards.dtype)
        result = combined.unsqueeze(-1) * response_mask
    else:
        dtype = token_level_rewards.dtype if token_level_rewards.dtype.kind == "f" else np.float64
        result = np.multiply(combined.astype(dtype)[:, None], np.asarray(response_mask), dtype=dtype)
    return result, result


def _divide_by_std(deviation, group, single_std, epsilon):
    """deviation / (std + epsilon) per group, std unbiased from the deviations (one row: std 1,
    or deviation 0 when ``single_std`` is None)."""
    size = np.bincount(group)
    squares = np.bincount(group, weights=deviation * deviation)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(squares / (size - 1))
    std = np.where(size == 1, 1.0, std)
    return deviation / (std[group] + epsilon)


def _torch_of(value):
    """The torch module if ``value`` is a torch tensor (torch is never imported otherwise)."""
    cls = type(value)
    if cls.__module__.startswith("torch"):
        import torch
        if isinstance(value, torch.Tensor):
            return torch
    return None


def _to_float64(values, name):
    torch = _torch_of(values)
    if torch is not None:
        return values.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers ({error})") from None


def _column_values(values):
    if isinstance(values, np.ndarray):
        return values.tolist() if values.dtype != object else list(values)
    torch = _torch_of(values)
    if torch is not None:
        return values.tolist()
    return list(values)
