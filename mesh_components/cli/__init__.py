"""The `mesh` program (`python -m mesh_components`, `mesh`, `mesh-components`): the main parser
and the spec verbs (`app`, which also registers the verbs of inspect, local and smi), the PKI
verbs, the reports of `validate`, and the demo. `main` is the console scripts' entry point.
"""

from mesh_components.cli.app import main

__all__ = ["main"]
