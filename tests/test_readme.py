"""The README's "Define your own game" example runs: it passes check_game and training solves it."""

import functools
import re
from pathlib import Path

from gamify.networks import NetworkConfig
from gamify.registry import load_game
from gamify.runs import Budget, RunDirectory, train_until
from gamify.search import SearchConfig
from gamify.testing import check_game
from gamify.train import TrainConfig, Trainer

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    match = re.search(r"<!-- example: coins.py -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its example"
    return match.group(1)


def fewest_coins(amount: int, coins: tuple) -> int:
    @functools.cache
    def best(left):
        return 0 if left == 0 else 1 + min(best(left - c) for c in coins if c <= left)

    return best(amount)


def test_readme_example_is_short_and_runs(tmp_path):
    source = readme_example()
    assert len(source.splitlines()) < 60
    path = tmp_path / "coins.py"
    path.write_text(source)
    game = load_game(f"{path}:CoinChange", amount=48)
    check_game(game, num_random_steps=48)
    optimum = fewest_coins(48, (1, 5, 12, 19, 25))
    assert optimum == 4  # 12 * 4 or 19 + 19 + 5 + 5; greedy change-making needs 6
    config = TrainConfig(
        games_per_iteration=8,
        updates_per_iteration=4,
        batch_size=32,
        replay_capacity=2048,
        eval_every=2,
        eval_games=2,
        network=NetworkConfig(hidden_size=32, head_hidden_size=32, num_layers=1),
        search=SearchConfig(num_simulations=16),
    )
    state, reason = train_until(
        Trainer(game, config),
        RunDirectory(tmp_path / "run"),
        Budget(max_games=8 * 40, target_return=-optimum),
    )
    assert reason.startswith("target return"), (reason, float(state.best_return))
