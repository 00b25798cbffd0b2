"""`certs status`: healthy, inside the renewal window, expired, with an injected clock."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from mesh_components import names, read_spec
from mesh_components.cli.certs_status import DEFAULT_WINDOW, Health, identity_secrets, statuses
from mesh_components.errors import MeshValidationError
from mesh_components.pipeline.manifests import manifest_files
from mesh_components.pipeline.render import render
from tests.test_goldens import CASES
from tests.test_render import NOW, make_ca

SECRETS = [
    o
    for o in render(read_spec(CASES["example-bookstore"]), make_ca(), NOW).objects
    if o["kind"] == "Secret"
]


def _health_at(offset: timedelta) -> set[Health]:
    return {status.health for status in statuses(SECRETS, NOW + offset, DEFAULT_WINDOW)}


def test_a_fresh_certificate_is_ok_and_every_identity_has_a_line() -> None:
    found = statuses(SECRETS, NOW, DEFAULT_WINDOW)
    assert len(found) == 6
    assert {s.health for s in found} == {Health.OK}
    assert all(any(san.startswith("spiffe://") for san in s.sans) for s in found)


def test_a_certificate_is_flagged_exactly_when_its_renewal_window_opens() -> None:
    not_after = statuses(SECRETS, NOW, DEFAULT_WINDOW)[0].not_after
    opens = not_after - DEFAULT_WINDOW - NOW
    assert _health_at(opens - timedelta(seconds=1)) == {Health.OK}
    assert _health_at(opens) == {Health.RENEW}
    assert _health_at(not_after - NOW) == {Health.EXPIRED}


def test_secrets_are_found_in_a_render_directory(tmp_path: Path) -> None:
    objects = render(read_spec(CASES["example-bookstore"]), make_ca(), NOW).objects
    for relative, text in manifest_files(objects).items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    assert len(list(identity_secrets(tmp_path))) == 6


def test_an_unreadable_certificate_is_a_clear_error() -> None:
    broken = {
        **SECRETS[0],
        "data": {**SECRETS[0]["data"], names.CERT_CHAIN_FILE: base64.b64encode(b"no").decode()},
    }
    with pytest.raises(MeshValidationError) as excinfo:
        statuses([broken], NOW, DEFAULT_WINDOW)
    assert excinfo.value.codes == ("certificate-unreadable",)
