"""`python -m migrate` is the same as the `wif-migrate` console script."""

import sys

from migrate.cli.verbs import main

sys.exit(main())
