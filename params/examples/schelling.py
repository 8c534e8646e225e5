"""Schelling's segregation model, as Mesa ships it, as a stochastic per-sample study model.

The model is Mesa's own example (``mesa.examples.basic.schelling``, imported, not copied):
agents of two groups on a torus move to a random empty cell while the share of like
neighbours is below their ``homophily``. This module only maps one sample's values to one
simulation and reads two outcomes off its end state. The seed comes from the toolkit
(``stochastic = true``), so every replication is reproducible on any backend.
"""

from mesa.examples.basic.schelling.model import Schelling

#: Grid side and the number of steps simulated (Mesa's example stops earlier once all are happy).
SIDE, STEPS = 15, 20


def evaluate(density, minority_pc, homophily, seed):
    """One simulation: the share of happy agents and the mean share of like neighbours.

    Parameters
    ----------
    density : float
        Chance that a cell is occupied at the start.
    minority_pc : float
        Chance that an agent belongs to the minority group.
    homophily : float
        Share of like neighbours an agent needs to stay.
    seed : int
        The sample's seed (from the run's recorded seed).

    Returns
    -------
    dict
        ``happy`` (share of happy agents at the end) and ``segregation`` (mean share of
        like neighbours among agents with any neighbour).
    """
    model = Schelling(height=SIDE, width=SIDE, density=density, minority_pc=minority_pc,
                      homophily=homophily, radius=1, seed=seed)
    for _ in range(STEPS):
        if not model.running:
            break
        model.step()
    return {"happy": model.happy / max(len(model.agents), 1), "segregation": _like_share(model)}


def _like_share(model) -> float:
    shares = []
    for agent in model.agents:
        neighbours = list(agent.cell.get_neighborhood(radius=1).agents)
        if neighbours:
            shares.append(sum(n.type == agent.type for n in neighbours) / len(neighbours))
    return sum(shares) / len(shares) if shares else 0.0
