"""Drop-in replacements for the reference implementation's functions.

``propagate_reward_decay`` has the signature and return shape of the reference's
``rewardflow.propagation.propagate_reward_decay``: it takes a group's deduplicated transitions
``(src, action, dst, src_reward, dst_reward)`` and returns ``(G, value_dict)``, a networkx
``DiGraph`` of the transitions (edge attributes ``action`` and ``label``) and ``{node: V}``.
The values come from the engine's exact max-decay instead of ``max_iter`` sweeps.
"""
import numpy as np

from . import score

__all__ = ["propagate_reward_decay"]


def propagate_reward_decay(flat_unique_trajectory, gamma=0.95, max_iter=500):
    """Max-decay state values of one group's transitions, as the reference computes them.

    ``flat_unique_trajectory``: an iterable of ``(src, action, dst, src_reward, dst_reward)``;
    nodes are any hashable values. A node's reward is the one attached to its first mention
    (source before target, tuples in order), as in the reference.

    Returns ``(G, value_dict)``. ``value_dict[node]`` is the exact limit of the reference's
    iteration ``V(s) = max(V(s), gamma * max over successors V(t))``; it equals the reference's
    result wherever ``max_iter`` sweeps have converged (every value that needs at most
    ``max_iter`` hops). ``max_iter`` is accepted for compatibility and otherwise unused.
    Differences: a self-loop tuple ``(s, a, s, ...)`` (which the reference's trajectory
    cleaning removes beforehand) adds no edge to the values' graph, only to ``G``; ``gamma``
    must be in (0, 1] and rewards finite (else ``InvalidParameterError`` /
    ``InvalidInputError``).
    """
    import networkx as nx  # only needed for the reference's return shape

    del max_iter  # the engine computes the limit exactly
    transitions = list(flat_unique_trajectory)
    graph = nx.DiGraph()
    for src, action, dst, _, _ in transitions:
        graph.add_edge(src, dst, action=action, label=action)
    if not transitions:
        return graph, {}

    # Every tuple k becomes its own trajectory P → src → dst of three rows, P a shared extra
    # state that nothing reaches. The step rows' state sequence then attaches src_reward to
    # src (the reward of the step P → src) and dst_reward to dst, and emits the transitions
    # P → src and src → dst in this order, so first-seen rewards follow the tuples' order.
    keys = {}
    first_row = {}
    for k, (src, _, dst, _, _) in enumerate(transitions):
        for offset, node in ((1, src), (2, dst)):
            if node not in keys:
                keys[node] = len(keys)
                first_row[node] = 3 * k + offset
    source = len(keys)  # the key of P
    count = len(transitions)
    state = np.empty((count, 3), dtype=np.uint64)
    reward = np.zeros((count, 3), dtype=np.float64)
    state[:, 0] = source
    for k, (src, _, dst, src_reward, dst_reward) in enumerate(transitions):
        state[k, 1], state[k, 2] = keys[src], keys[dst]
        reward[k, 0], reward[k, 1] = src_reward, dst_reward
    trajectory = [str(k) for k in range(count) for _ in range(3)]
    result = score(
        ["group"] * (3 * count), trajectory, np.tile(np.arange(3, dtype=np.int64), count),
        state.ravel(), reward.ravel(), operator="max-decay", gamma=gamma)
    values = result["value"]
    return graph, {node: float(values[row]) for node, row in first_row.items()}
