"""rewardflow.compat.propagate_reward_decay: the reference's signature and return shape, values
equal to sweeps run to convergence."""
import random

import networkx as nx
import pytest

from rewardflow.compat import propagate_reward_decay


def sweeps(transitions, gamma, max_iter):
    """The reference's iteration, written from its description: first-seen rewards, then
    V(s) = max(V(s), gamma * max over successors V(t)), max_iter synchronous sweeps."""
    reward, successors = {}, {}
    for src, _, dst, r_src, r_dst in transitions:
        reward.setdefault(src, r_src)
        reward.setdefault(dst, r_dst)
        successors.setdefault(src, set()).add(dst)
    values = dict(reward)
    for _ in range(max_iter):
        values = {s: max([v] + [gamma * values[t] for t in successors.get(s, ())]) for s, v in values.items()}
    return values


@pytest.mark.parametrize("seed", range(20))
def test_matches_converged_sweeps(seed):
    rng = random.Random(seed)
    nodes = rng.randint(2, 12)
    transitions = []
    for _ in range(rng.randint(1, 30)):
        src, dst = rng.sample(range(nodes), 2)
        transitions.append((src, f"a{rng.randrange(3)}", dst, rng.choice([0.0, 1.0, 10.0]), rng.choice([0.0, 0.0, 5.0, 10.0])))
    gamma = rng.choice([0.5, 0.9, 0.95])
    graph, values = propagate_reward_decay(transitions, gamma=gamma, max_iter=1000)
    want = sweeps(transitions, gamma, 1000)
    assert isinstance(graph, nx.DiGraph)
    assert set(graph.nodes) == set(want) and list(values) == list(want)
    assert all(graph.edges[s, d]["action"] == graph.edges[s, d]["label"] for s, d in graph.edges)
    for node, value in want.items():
        # Rewards are >= 0, so the sweeps converge within `nodes` rounds, and max-decay is built
        # by the same chain of products: equal bit for bit.
        assert values[node] == value, node


def test_hashable_nodes_and_defaults():
    transitions = [(("room", 0), "go", ("room", 1), 0, 0), (("room", 1), "take", "goal", 0, 10)]
    graph, values = propagate_reward_decay(transitions)  # gamma=0.95 by default
    assert values == {("room", 0): 0.95 * (0.95 * 10.0), ("room", 1): 0.95 * 10.0, "goal": 10.0}
    assert graph.edges[("room", 1), "goal"]["action"] == "take"
    assert propagate_reward_decay([])[1] == {}
