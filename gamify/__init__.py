"""gamify: single-player games solved by Gumbel MCTS guided by a learned policy-value network."""

from gamify.env import Env, EnvState
from gamify.game import ActionSpace, FactoredActions, FlatActions, Game

__version__ = "0.1.0"

__all__ = [
    "ActionSpace",
    "Env",
    "EnvState",
    "FactoredActions",
    "FlatActions",
    "Game",
    "__version__",
]
