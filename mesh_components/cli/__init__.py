"""The `mesh` program (`python -m mesh_components`, `mesh`, `mesh-components`): the spec verbs
and the main parser (`app`, which also registers the verbs of inspect, local and smi), the PKI
verbs (`pki`, `certs_status`), the reports of `validate` (`summary`, `validate_report`) and the
demo.
"""

from mesh_components.cli.app import main

__all__ = ["main"]
