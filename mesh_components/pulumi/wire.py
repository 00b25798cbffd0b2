"""Resource inputs as Kubernetes JSON: what a transformation receives, in the API's own shape.

A program may write a Deployment with typed args (`DeploymentSpecArgs`), Python-style dicts
(`container_port`) or API-style dicts (`containerPort`). The mesh reads and injects one shape,
the API's: input types become dicts, snake_case field names become camelCase, and the keys of
free-form maps (labels, annotations, selectors, resources) are kept exactly as written.
Pulumi Outputs are left in place for the caller to resolve.
"""

from typing import Any

import pulumi
from pulumi import _types
from pulumi_kubernetes._tables import SNAKE_TO_CAMEL_CASE_TABLE

FREE_FORM_MAPS = frozenset(
    {
        "annotations",
        "binaryData",
        "data",
        "labels",
        "limits",
        "matchLabels",
        "nodeSelector",
        "overhead",
        "requests",
        "selector",
        "stringData",
        "volumeAttributes",
    }
)
"""Fields whose keys are user data, never field names."""


def to_wire(value: Any) -> Any:
    """`value` with input types as dicts and every field name camelCase; Outputs untouched."""
    if isinstance(value, pulumi.Output):
        return value
    if _types.is_input_type(type(value)):
        value = _types.input_type_to_dict(value)
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            name = field_name(key)
            found[name] = _free_form(item) if name in FREE_FORM_MAPS else to_wire(item)
        return found
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    return value


def field_name(key: Any) -> Any:
    """The API's name for a field written the Python way (`container_port` → `containerPort`)."""
    if isinstance(key, str) and "_" in key:
        return SNAKE_TO_CAMEL_CASE_TABLE.get(key, key)
    return key


def _free_form(value: Any) -> Any:
    """A user map: keys kept; a label selector object written as a map still converts."""
    if _types.is_input_type(type(value)):
        return to_wire(value)
    if isinstance(value, dict) and {"match_labels", "match_expressions"} & set(value):
        return to_wire(value)
    return value


def has_outputs(value: Any) -> bool:
    """Whether any Pulumi Output is nested in `value`."""
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, dict):
        return any(has_outputs(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_outputs(item) for item in value)
    return False
