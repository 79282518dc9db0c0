"""Prior walks (flip-graph walkers whose plus transitions a network draws, no search), the
hindsight labels they collect (successes, outcomes), fitting a prior and a value to them, and
selection among walkers by the value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gamify
from gamify import native
from gamify.games import flip_graph
from gamify.games.flip_graph import FlipGraph, Guide, Successes
from gamify.networks import NetworkConfig, make_network
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
    return flip_graph.collect_successes(game, 2.5, UNIFORM, walkers=32, patience=8, seed=0)


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
    params, measure = flip_graph.fit_prior(game, SMALL, _planted(game, successes), updates=200, seed=0)
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


def _round(rank, best_rank, next_best, plus, action=None) -> flip_graph.PriorRound:
    """A hand-made round: walker w's terms are filled with w + 1 (so records tell walkers apart)."""
    walkers = len(rank)
    terms = np.broadcast_to(np.arange(1, walkers + 1, dtype=np.uint32)[:, None, None], (walkers, 2, 3)).copy()
    return flip_graph.PriorRound(
        terms,
        np.array(rank, np.int32),
        np.array(best_rank, np.int32),
        np.array(action if action is not None else [7] * walkers, np.int32),
        np.array(plus, bool),
        np.array(next_best, np.int32),
    )


def test_successes_are_the_plus_moves_since_the_last_return_to_the_best():
    labels = flip_graph._SuccessLabels(walkers=2, patience=3)
    labels(_round([10, 10], [10, 10], [10, 10], [True, True], [1, 2]))  # both plus
    labels(_round([11, 11], [10, 10], [10, 10], [False, True], [0, 3]))  # walker 0 goes back
    labels(_round([10, 12], [10, 10], [9, 9], [True, True], [4, 5]))  # both reach 9
    assert [(int(t[0, 0]), a) for t, _, _, a in labels.found] == [(1, 4), (2, 2), (2, 3), (2, 5)]
    restart = [labels(_round([9, 9], [9, 9], [9, 9], [True, True])) for _ in range(3)]
    assert [r.tolist() for r in restart] == [[False, False], [False, False], [True, True]]
    assert labels.chains == [[], []], "a restart drops the open chains"


def test_outcomes_label_each_best_scheme_by_the_horizon_after_it():
    labels = flip_graph._OutcomeLabels(walkers=2, horizon=2, patience=10)
    labels(_round([10, 10], [10, 10], [10, 10], [True, True]))  # round 0: both at their best
    labels(_round([11, 10], [10, 10], [10, 10], [True, True]))  # round 1: walker 1 at its best
    assert [(int(t[0, 0]), s) for t, _, s, _ in labels.out] == [
        (1, False),
        (2, False),
    ]  # round 0's horizon passed
    labels(_round([10, 10], [10, 10], [9, 10], [True, True]))  # round 2: walker 0 goes lower
    assert [(int(t[0, 0]), s) for t, _, s, _ in labels.out[2:]] == [(1, True), (2, False)]
    labels = flip_graph._OutcomeLabels(walkers=1, horizon=5, patience=2)
    labels(_round([10], [10], [10], [True]))
    assert labels(_round([10], [10], [10], [True])).tolist() == [True]
    assert labels.out == [] and labels.pending == [[]] and labels.episodes.tolist() == [1], (
        "a restart drops its windows"
    )


def test_the_fitted_value_learns_a_planted_rule(game, successes):
    # label: the scheme's factors hold more set bits than the median scheme of its rank
    weight = np.array([sum(bin(int(x)).count("1") for x in terms.reshape(-1)) for terms in successes.terms])
    median = {rank: np.median(weight[successes.rank == rank]) for rank in np.unique(successes.rank)}
    heavy = np.array([w > median[r] for w, r in zip(weight, successes.rank, strict=True)])
    episode = np.arange(len(heavy)) // 4
    outcomes = flip_graph.Outcomes(successes.terms, successes.rank, heavy, episode.astype(np.int32))
    _, measure = flip_graph.fit_value(game, SMALL, outcomes, updates=300, heldout=0.3, seed=0)
    assert measure["auc"] > 0.75, measure
    assert measure["log_loss"] < measure["base_log_loss"], measure


def test_selection_turns_the_last_walkers_into_copies_of_the_first(game):
    states = jax.vmap(game.init)(jax.random.split(jax.random.PRNGKey(0), 8))
    best = np.array([12, 9, 11, 10, 13, 10, 14, 11], np.int32)
    rank = best.copy()
    rank[3] = 11  # walker 3 is on a plus excursion: after walker 5, at its best with the same best rank
    terms, best_terms = np.asarray(states.terms).copy(), np.asarray(states.best_terms).copy()
    terms[:, -1, 0] = best_terms[:, -1, 1] = np.arange(
        8
    )  # tells the walkers apart (the uniform value reads nothing)
    states = states._replace(terms=terms, rank=rank, best_terms=best_terms, best_rank=best)
    network = make_network(gamify.Env(game).action_space, config=NetworkConfig(torso="uniform"))
    value = flip_graph._network_value(game, network)
    chosen = jax.device_get(flip_graph._selection(value, 0.25)({}, jax.random.PRNGKey(1), states))
    # the last two (walkers 6 and 4: best 14, 13) become copies of the first two (walkers 1 and 5)
    assert chosen.best_rank.tolist() == [12, 9, 11, 10, 9, 10, 10, 11]
    assert chosen.rank[[4, 6]].tolist() == [9, 10]
    assert chosen.terms[[4, 6], -1, 0].tolist() == [1, 5] and chosen.best_terms[[4, 6], -1, 1].tolist() == [
        1,
        5,
    ]
    assert np.array_equal(chosen.key, np.asarray(states.key)), "each keeps its own walk seed"
    untouched = [0, 1, 2, 3, 5, 7]
    assert np.array_equal(chosen.terms[untouched], terms[untouched])


def test_flip_pairs_counts_the_term_pairs_sharing_a_factor(game):
    terms = np.zeros((2, game.max_terms, 3), np.uint32)
    terms[0, :4] = [[1, 2, 3], [1, 5, 3], [1, 6, 7], [8, 6, 9]]  # a: 3 pairs, b: 1, c: 1
    terms[1, :4] = terms[0, :4]
    rank = np.array([4, 3], np.int32)  # the second counts 3 terms: a: 3 pairs, c: 1
    states = flip_graph._stored_states(jnp.asarray(terms), jnp.asarray(rank), jnp.asarray(rank))
    assert flip_graph.flip_pairs(states).tolist() == [5.0, 4.0]


def test_a_prior_walk_with_selection_runs_and_verifies():
    naive = flips.standard_scheme(*SIZES)
    selector = Guide(SMALL)
    result = flip_graph.prior_walk(
        naive, 0, 60.0, UNIFORM, walkers=8, selector=selector, select_every=2, should_stop=_rounds(5)
    )
    assert result.rounds == 5 and result.scheme.verify().ok
    by_pairs = flip_graph.prior_walk(
        naive,
        0,
        60.0,
        UNIFORM,
        walkers=8,
        selector=flip_graph.flip_pairs,
        select_every=2,
        should_stop=_rounds(3),
    )
    assert by_pairs.rounds == 3 and by_pairs.scheme.verify().ok
    with pytest.raises(ValueError, match="select_fraction"):
        flip_graph.prior_walk(naive, 0, 1.0, UNIFORM, selector=selector, select_fraction=0.75)


def test_descent_rates_are_fractions_of_walkers_that_go_lower():
    naive = flips.standard_scheme(*SIZES)  # rank 18: most walkers go lower within a few rounds
    stuck = flips.walk(naive, 15, 30.0, seed=0, threads=1).scheme  # the best known rank: none can
    assert stuck.rank == 15
    rates = flip_graph.descent_rates([naive, naive], walkers=8, rounds=5, plateau=1000)
    assert rates.tolist() == [0.875, 0.875]  # fractions of 8 walkers (seed 0)
    assert flip_graph.descent_rates([stuck], walkers=8, rounds=5, plateau=1000).tolist() == [0.0]
    with pytest.raises(ValueError, match="one format and one rank"):
        flip_graph.descent_rates([naive, stuck])
