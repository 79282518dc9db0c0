"""``python -m gamify.cli``: the same as the ``gamify`` command."""

import sys

from gamify.cli.main import main

sys.exit(main())
