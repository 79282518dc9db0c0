"""Prior walks (flip-graph walkers whose plus transitions a network draws, no search), the
successes they collect, and fitting a prior to them."""

import jax
import numpy as np
import pytest

from gamify import native
from gamify.games import flip_graph
from gamify.games.flip_graph import FlipGraph, Guide, Successes
from gamify.networks import NetworkConfig
from gamify.tensor import flips

pytestmark = pytest.mark.skipif(not native.available(), reason="needs the compiled core")

SIZES = (2, 3, 3)  # naive rank 18, best known 15
UNIFORM = Guide(NetworkConfig(torso="uniform"), plateau=50)
SMALL = NetworkConfig(torso="set", pair_kinds=3, hidden_size=16, head_hidden_size=16, num_layers=1)


def _rounds(count: int):
    """A should_stop for prior walks: stop after ``count`` rounds (asked once per round)."""
    seen = [0]

    def should_stop() -> bool:
        seen[0] += 1
        return seen[0] >= count

    return should_stop


@pytest.fixture(scope="module")
def game():
    return FlipGraph(*SIZES, start=flips.standard_scheme(*SIZES), plateau=50, moves=2, target_rank=0)


@pytest.fixture(scope="module")
def successes(game):
    return flip_graph.collect_successes(game, 4.0, UNIFORM, walkers=32, patience=8, seed=0)


def test_prior_walks_are_deterministic_and_verified():
    naive = flips.standard_scheme(*SIZES)
    results = [
        flip_graph.prior_walk(
            naive,
            0,
            60.0,
            Guide(SMALL, plateau=50),
            walkers=8,
            seed=3,
            threads=threads,
            should_stop=_rounds(6),
        )
        for threads in (1, 2)
    ]
    assert [r.rounds for r in results] == [6, 6]
    assert len({(r.scheme.rank, r.flips) for r in results}) == 1, "the thread count changes nothing"
    assert results[0].flips > 6 * 8 * 50 and results[0].interrupted
    assert results[0].scheme.verify().ok and results[0].scheme.rank <= naive.rank
    other = flip_graph.prior_walk(naive, 0, 60.0, UNIFORM, walkers=8, seed=4, should_stop=_rounds(6))
    assert other.flips != results[0].flips, "the seed matters"


def test_a_prior_walk_stops_at_its_target():
    result = flip_graph.prior_walk(flips.standard_scheme(*SIZES), 17, 60.0, UNIFORM, walkers=4)
    assert result.reached and result.scheme.rank <= 17 and result.scheme.verify().ok


def test_successes_are_legal_plus_transitions_of_valid_schemes(game, successes):
    assert len(successes.action) >= 50
    legal = jax.jit(jax.vmap(game.legal_action_mask))
    plus_actions = 3 * game.max_terms**2
    for k in range(len(successes.action)):
        rank = int(successes.rank[k])
        terms = successes.terms[k]
        assert np.all(terms[rank:] == 0) and np.all(np.any(terms[:rank] != 0, axis=-1))
        assert flips.from_masks(terms[:rank].astype(np.uint64), game.bits, SIZES).verify().ok
        assert successes.best_rank[k] <= rank <= successes.best_rank[k] + 1, "plus moves up to best + 1"
        assert successes.action[k] < plus_actions
    states = flip_graph.FlipState(
        successes.terms,
        successes.rank,
        successes.terms,
        successes.best_rank,
        np.zeros((len(successes.rank), 2), np.uint32),
        np.zeros(len(successes.rank), np.int32),
    )
    masks = np.asarray(legal(states))
    assert masks[np.arange(len(successes.action)), successes.action].all()


def _planted(game, successes) -> Successes:
    """The same states, each labelled with the plus move a fixed rule of the terms' contents
    picks: mode a, the ordered pair sharing the most bits of factor b (ties: the largest
    masks). A learnable prior, and one a network of the terms as a set can express."""
    r, actions = game.max_terms, []
    for terms, rank in zip(successes.terms, successes.rank, strict=True):
        best = None
        for i in range(rank):
            for j in range(rank):
                if i != j and np.all(terms[i] != terms[j]):
                    score = (
                        bin(int(terms[i, 1] & terms[j, 1])).count("1"),
                        *terms[i].tolist(),
                        *terms[j].tolist(),
                    )
                    if best is None or score > best[0]:
                        best = (score, i * r + j)
        actions.append(best[1])
    return successes._replace(action=np.array(actions, np.int32))


def test_the_fitted_prior_learns_a_planted_rule_and_is_measured_against_uniform(game, successes):
    params, measure = flip_graph.fit_prior(game, SMALL, _planted(game, successes), updates=300, seed=0)
    assert measure["uniform_nll"] > 3.0  # many legal moves: the uniform prior is far from the rule
    assert measure["nll"] < measure["uniform_nll"] - 1.0, measure
    assert measure["top1"] > 5 * measure["uniform_top1"], measure
    # the fitted parameters steer a prior walk
    result = flip_graph.prior_walk(
        flips.standard_scheme(*SIZES),
        0,
        60.0,
        Guide(SMALL, params, plateau=50),
        walkers=4,
        should_stop=_rounds(3),
    )
    assert result.rounds == 3 and result.scheme.verify().ok


def test_bad_arguments_are_one_clear_error(game, successes):
    naive = flips.standard_scheme(*SIZES)
    with pytest.raises(ValueError, match="walkers >= 1"):
        flip_graph.prior_walk(naive, 0, 1.0, UNIFORM, walkers=0)
    with pytest.raises(ValueError, match="too few"):
        flip_graph.fit_prior(game, SMALL, jax.tree.map(lambda x: x[:3], successes))
