"""gamify: single-player games solved by Gumbel MCTS guided by a learned policy-value network.

This package is the engine and knows no game. The tensor domain is :mod:`gamify.tensor`,
the command line :mod:`gamify.cli`, the built-in games :mod:`gamify.games`.
"""

from gamify import _moved
from gamify.env import Env, EnvState
from gamify.game import ActionSpace, FactoredActions, FlatActions, Game
from gamify.networks import Network, NetworkConfig, make_network
from gamify.registry import list_games, load_game
from gamify.runs import Budget
from gamify.search import SearchConfig, SearchOutput, make_search
from gamify.train import TrainConfig, Trainer

__version__ = "0.1.0"

__all__ = [
    "ActionSpace",
    "Budget",
    "Env",
    "EnvState",
    "FactoredActions",
    "FlatActions",
    "Game",
    "Network",
    "NetworkConfig",
    "SearchConfig",
    "SearchOutput",
    "TrainConfig",
    "Trainer",
    "__version__",
    "list_games",
    "load_game",
    "make_network",
    "make_search",
]

_moved.install()


def __getattr__(name: str):
    raise _moved.attribute_error(name)
