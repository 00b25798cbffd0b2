"""What every command-line front end shares: how a verb and its options are declared
(`parser`) and how its output looks on a terminal or in a pipe (`console`). The `mesh` program
(cli/) and the verbs that inspect, local and smi add to it build on these; this package imports
none of them.
"""
