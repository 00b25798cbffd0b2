"""Limits, stated once: of Envoy and Kubernetes, which the emitted config is designed around,
and our own, on what the tool reads and how long it waits."""

RE2_MAX_PROGRAM_SIZE = 1000
"""The largest compiled RE2 program a policy regex may have. Envoy's default (100) refuses
regexes of about 97 literal characters; our bootstraps raise it to this through the runtime
key `re2.max_program_size.error_level`, and validation measures each regex against it."""

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""The largest file the tool reads (a spec, a manifest, a CA file, a rendered file). A mesh of
a thousand services renders files of a few megabytes at most."""

MAX_NESTING = 100
"""The deepest nesting of mappings and lists an input may have. Kubernetes objects and Envoy
configs nest about 20 deep; Python would run out of stack in the thousands."""

MAX_DIRECTORY_DEPTH = 32
"""How deep a directory of inputs (manifests, a render directory) may nest. A render directory
is two levels deep."""

MAX_EXPANDED_NODES = 1_000_000
"""How many values YAML aliases may expand a document to, beyond what it spells out: a few
hundred bytes of nested aliases would otherwise take gigabytes (a "billion laughs")."""

PROGRAM_TIMEOUT = 120.0
"""Seconds a Pulumi program may run under `render` before it is given up on (`--timeout`).
The examples take about a second."""

MAX_PROGRAM_TIMEOUT = 24 * 3600.0

MAX_GIT_ARCHIVE_BYTES = 256 * 1024 * 1024
"""The largest tree `REV:path` reads out of git (the `git archive` of it): a mesh's spec or
render directory is megabytes; a repository could hold a file of gigabytes."""
