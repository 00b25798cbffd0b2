"""`python -m mesh_components`: the command line."""

import sys

from mesh_components.cli import main

sys.exit(main())
