"""The curated public surface: changing it is a deliberate act."""

import gamify


def test_public_api_is_pinned():
    assert gamify.__all__ == [
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
    assert all(hasattr(gamify, name) for name in gamify.__all__)
