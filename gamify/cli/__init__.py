"""The ``gamify`` command line (entry point :func:`gamify.cli.main.main`): the top layer,
above the engine (:mod:`gamify`) and the tensor domain (:mod:`gamify.tensor`)."""
