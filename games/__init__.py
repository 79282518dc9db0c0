"""gamify's built-in games; installed as the subpackage ``gamify.games``.

In the source tree this folder is the top-level ``games/``; the build maps it to
``gamify/games`` in the wheel (see ``[tool.scikit-build.wheel.packages]`` in
pyproject.toml), so import built-in games as ``gamify.games.<module>``.
"""
