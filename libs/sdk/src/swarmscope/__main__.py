"""`python -m swarmscope` is the `swarmscope` command."""

import sys

from swarmscope.cli import main

sys.exit(main())
