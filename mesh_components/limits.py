"""Limits of Envoy and Kubernetes that the emitted config is designed around, stated once."""

RE2_MAX_PROGRAM_SIZE = 1000
"""The largest compiled RE2 program a policy regex may have. Envoy's default (100) refuses
regexes of about 97 literal characters; our bootstraps raise it to this through the runtime
key `re2.max_program_size.error_level`, and validation measures each regex against it."""
