"""Placeholder for ``gamify bench throughput`` (being written)."""


def add_parser(suites) -> None:
    suites.add_parser("throughput", help="(not built yet)")


def run(args) -> int:
    raise NotImplementedError("gamify bench throughput is not built yet")
