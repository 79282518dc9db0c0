"""gamify: single-player games solved by Gumbel MCTS guided by a learned policy-value network."""

from gamify.env import Env, EnvState
from gamify.formats import read_scheme, write_scheme
from gamify.game import ActionSpace, FactoredActions, FlatActions, Game
from gamify.networks import Network, NetworkConfig, make_network
from gamify.registry import list_games, load_game
from gamify.scheme import Scheme
from gamify.search import SearchConfig, SearchOutput, make_search
from gamify.tensor import matmul_tensor
from gamify.train import Budget, TrainConfig, Trainer

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
    "Scheme",
    "SearchConfig",
    "SearchOutput",
    "TrainConfig",
    "Trainer",
    "__version__",
    "list_games",
    "load_game",
    "make_network",
    "make_search",
    "matmul_tensor",
    "read_scheme",
    "write_scheme",
]
