"""CA rollover: the bundle across the three stages, peers one stage apart still shake hands,
the CA file walks the stages, and `ca rotate` / `ca status` on the command line."""

from __future__ import annotations

import base64
import datetime
import itertools
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from mesh_components import pki
from mesh_components.cli import main
from mesh_components.errors import MeshValidationError
from mesh_components.model import Identity
from mesh_components.pipeline import envoy_check
from mesh_components.pki import MeshCA, MeshTrust, RolloverStage, ca_file, ca_rotation
from tests.test_pki import tls_listener_bootstrap
from tests.tls import handshake, tls_context, write_files

UTC = datetime.UTC
HOUR = datetime.timedelta(hours=1)
OLD_START = datetime.datetime(2025, 1, 1, tzinfo=UTC)
ROLLOVER = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SWITCH = ROLLOVER + HOUR
UNTIL = SWITCH + 24 * HOUR
BOOKSTORE = Identity("shop", "bookstore")
BOOKBUYER = Identity("shop", "bookbuyer")


def ca(seed: int, start: datetime.datetime) -> MeshCA:
    return MeshCA.from_seed(bytes([seed]) * 32, trust_domain="cluster.local", not_before=start)


OLD, NEW = ca(1, OLD_START), ca(2, ROLLOVER)
STEADY_OLD = MeshTrust(issuer=OLD)
TRUSTING_NEW = MeshTrust(issuer=OLD, next=NEW)
ISSUING_NEW = MeshTrust(issuer=NEW, previous=OLD, previous_trusted_until=UNTIL)


def verifies(issued: pki.IdentityCertificate, bundle_pem: bytes, at: datetime.datetime) -> bool:
    """Whether a peer trusting `bundle_pem` accepts `issued` as a client certificate at `at`."""
    store = Store(x509.load_pem_x509_certificates(bundle_pem))
    verifier = PolicyBuilder().store(store).time(at).build_client_verifier()
    try:
        verifier.verify(x509.load_pem_x509_certificate(issued.certificate_pem), [])
    except VerificationError:
        return False
    return True


def issuer_of(issued: pki.IdentityCertificate) -> x509.Name:
    return x509.load_pem_x509_certificate(issued.certificate_pem).issuer


def bundle_of(trust: MeshTrust, at: datetime.datetime) -> list[x509.Certificate]:
    return list(trust.bundle(at).certificates)


# The pure stages, with an injected clock.


def test_stage_one_trusts_both_cas_and_still_issues_from_the_old_one() -> None:
    assert TRUSTING_NEW.stage(SWITCH) is RolloverStage.TRUSTING_NEXT
    assert bundle_of(TRUSTING_NEW, SWITCH) == [OLD.certificate, NEW.certificate]
    assert issuer_of(TRUSTING_NEW.issue(BOOKSTORE, SWITCH)) == OLD.certificate.subject
    issued = TRUSTING_NEW.issue(BOOKSTORE, SWITCH)
    assert issued.certificate_pem == STEADY_OLD.issue(BOOKSTORE, SWITCH).certificate_pem


def test_stage_two_issues_from_the_new_ca_and_trusts_the_old_one_until_the_overlap_ends() -> None:
    assert ISSUING_NEW.stage(SWITCH) is RolloverStage.RETIRING_PREVIOUS
    issued = ISSUING_NEW.issue(BOOKSTORE, SWITCH)
    assert issuer_of(issued) == NEW.certificate.subject
    assert bundle_of(ISSUING_NEW, SWITCH) == [NEW.certificate, OLD.certificate]
    assert bundle_of(ISSUING_NEW, UNTIL - datetime.timedelta(seconds=1))[1] == OLD.certificate
    assert ISSUING_NEW.stage(UNTIL) is RolloverStage.STEADY
    assert bundle_of(ISSUING_NEW, UNTIL) == [NEW.certificate]


def test_old_leaves_verify_against_the_bundle_exactly_until_the_overlap_ends() -> None:
    old_leaf = STEADY_OLD.issue(BOOKBUYER, SWITCH)
    for at in (SWITCH, SWITCH + 12 * HOUR, UNTIL - datetime.timedelta(seconds=1)):
        assert verifies(old_leaf, ISSUING_NEW.issue(BOOKSTORE, at).ca_bundle_pem, at), at
    after = ISSUING_NEW.issue(BOOKSTORE, UNTIL).ca_bundle_pem
    assert not verifies(old_leaf, after, UNTIL)


def test_peers_one_stage_apart_accept_each_other_in_both_directions() -> None:
    """While a stage propagates, some pods hold the previous stage's Secret: no pair may fail."""
    stages = [
        (STEADY_OLD, ROLLOVER),
        (TRUSTING_NEW, ROLLOVER),
        (ISSUING_NEW, SWITCH),
        (ISSUING_NEW, UNTIL),
    ]
    for (before, at_before), (after, at_after) in itertools.pairwise(stages):
        old_side = before.issue(BOOKBUYER, at_before)
        new_side = after.issue(BOOKSTORE, at_after)
        assert verifies(old_side, new_side.ca_bundle_pem, at_after)
        assert verifies(new_side, old_side.ca_bundle_pem, at_after)


def test_skipping_stage_one_would_break_traffic() -> None:
    """Why stage 1 exists: a pod that never learnt the new CA rejects the new leaves."""
    not_updated = STEADY_OLD.issue(BOOKBUYER, SWITCH)
    switched = ISSUING_NEW.issue(BOOKSTORE, SWITCH)
    assert not verifies(switched, not_updated.ca_bundle_pem, SWITCH)


def test_rollover_states_are_deterministic() -> None:
    again = MeshTrust(
        issuer=ca(2, ROLLOVER), previous=ca(1, OLD_START), previous_trusted_until=UNTIL
    )
    assert again.issue(BOOKSTORE, SWITCH) == ISSUING_NEW.issue(BOOKSTORE, SWITCH)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"next": NEW, "previous": OLD, "previous_trusted_until": UNTIL}, "rollover-overlapping"),
        ({"previous": OLD}, "rollover-previous-incomplete"),
        ({"previous_trusted_until": UNTIL}, "rollover-previous-incomplete"),
    ],
)
def test_inconsistent_rollovers_are_refused(changes: dict[str, object], code: str) -> None:
    with pytest.raises(MeshValidationError) as error:
        MeshTrust(issuer=NEW, **changes)  # type: ignore[arg-type]
    assert error.value.codes == (code,)


def test_a_ca_from_another_trust_domain_cannot_roll_in() -> None:
    other = MeshCA.from_seed(bytes([3]) * 32, trust_domain="other.local", not_before=ROLLOVER)
    with pytest.raises(MeshValidationError) as error:
        MeshTrust(issuer=OLD, next=other)
    assert error.value.codes == ("rollover-trust-domain",)


def test_the_repr_names_every_ca_and_no_key() -> None:
    text = repr(ISSUING_NEW)
    assert "previous_trusted_until=" in text and "key=<redacted>" in text
    assert "PRIVATE" not in text


# Real TLS across the stages, with the real clock (OpenSSL checks validity against it).


def test_real_handshakes_succeed_between_adjacent_stages(tmp_path: Path) -> None:
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    old, new = ca(1, now - 400 * 24 * HOUR), ca(2, now - HOUR)
    secrets = [
        MeshTrust(issuer=old).issue(BOOKBUYER, now),
        MeshTrust(issuer=old, next=new).issue(BOOKSTORE, now),
        MeshTrust(issuer=new, previous=old, previous_trusted_until=now + HOUR).issue(
            BOOKBUYER, now
        ),
        MeshTrust(issuer=new).issue(BOOKSTORE, now),
    ]
    folders = [write_files(tmp_path / str(i), issued) for i, issued in enumerate(secrets)]
    for first, second in itertools.pairwise(folders):
        for client, server in ((first, second), (second, first)):
            handshake(tls_context(client, server_side=False), tls_context(server, server_side=True))
    with pytest.raises(ssl.SSLError):
        handshake(
            tls_context(folders[0], server_side=False), tls_context(folders[3], server_side=True)
        )


@pytest.mark.envoy
def test_envoy_accepts_a_two_ca_bundle(envoy_binary: Path, tmp_path: Path) -> None:
    now = datetime.datetime.now(UTC)
    issued = MeshTrust(issuer=ca(1, OLD_START), next=ca(2, ROLLOVER)).issue(BOOKSTORE, now)
    certs = write_files(tmp_path, issued)
    verdict = envoy_check.validate_yaml(envoy_binary, "rollover", tls_listener_bootstrap(certs))
    assert verdict.accepted, verdict.output


# The CA file walks the stages.


def seeded(seed: int, start: datetime.datetime) -> ca_file.SeededCa:
    return ca_file.SeededCa(bytes([seed]) * 32, start)


def test_rotate_walks_stage_one_then_stage_two() -> None:
    start = ca_file.CaFile(current=seeded(1, OLD_START))
    first = ca_rotation.rotate(start, ROLLOVER, seeded(2, ROLLOVER), 24 * HOUR)
    assert first.state == ca_file.CaFile(current=seeded(1, OLD_START), next=seeded(2, ROLLOVER))
    assert "stage 1 of 3" in first.message
    second = ca_rotation.rotate(first.state, SWITCH, seeded(3, SWITCH), 24 * HOUR)
    assert second.state == ca_file.CaFile(
        current=seeded(2, ROLLOVER), previous=seeded(1, OLD_START), previous_trusted_until=UNTIL
    )
    assert "stage 2 of 3" in second.message and UNTIL.isoformat() in second.message
    assert second.state.trust("cluster.local").issue(BOOKSTORE, SWITCH) == ISSUING_NEW.issue(
        BOOKSTORE, SWITCH
    )


def test_a_new_rollover_waits_for_the_overlap_to_end_then_drops_the_previous_ca() -> None:
    during = ca_file.CaFile(
        current=seeded(2, ROLLOVER), previous=seeded(1, OLD_START), previous_trusted_until=UNTIL
    )
    with pytest.raises(MeshValidationError) as error:
        ca_rotation.rotate(during, UNTIL - HOUR, seeded(3, UNTIL), 24 * HOUR)
    assert error.value.codes == ("ca-rollover-in-progress",)
    after = ca_rotation.rotate(during, UNTIL, seeded(3, UNTIL), 24 * HOUR).state
    assert after == ca_file.CaFile(current=seeded(2, ROLLOVER), next=seeded(3, UNTIL))


def test_an_overlap_shorter_than_an_hour_is_refused() -> None:
    start = ca_file.CaFile(current=seeded(1, OLD_START), next=seeded(2, ROLLOVER))
    with pytest.raises(MeshValidationError) as error:
        ca_rotation.rotate(start, SWITCH, seeded(3, SWITCH), datetime.timedelta(minutes=5))
    assert error.value.codes == ("ca-overlap-too-short",)


def test_the_ca_file_round_trips_every_stage_with_owner_only_access(tmp_path: Path) -> None:
    states = [
        ca_file.CaFile(current=seeded(1, OLD_START)),
        ca_file.CaFile(current=seeded(1, OLD_START), next=seeded(2, ROLLOVER)),
        ca_file.CaFile(
            current=seeded(2, ROLLOVER), previous=seeded(1, OLD_START), previous_trusted_until=UNTIL
        ),
    ]
    path = tmp_path / "ca.yaml"
    for state in states:
        ca_file.save(path, state)
        assert ca_file.load(path) == state
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.yaml"]


def test_reprs_of_ca_sources_hide_the_secret_material() -> None:
    assert (bytes([1]) * 32).hex() not in repr(ca_file.CaFile(current=seeded(1, OLD_START)))


# The command line, as an operator runs it.


BOOKSTORE_SPEC = Path(__file__).parents[1] / "examples" / "bookstore"


def rendered_bundle(tmp_path: Path, ca_path: Path, out: str) -> list[x509.Certificate]:
    """The CA bundle the bookstore's identity Secret carries after `render`."""
    argv = ["render", str(BOOKSTORE_SPEC), "-o", str(tmp_path / out), "--ca-file", str(ca_path)]
    assert main(argv) == 0
    (secret,) = (tmp_path / out / "bookstore").glob("*-secret-bookstore-mesh-identity.yaml")
    data = yaml.safe_load(secret.read_text())["data"]
    return x509.load_pem_x509_certificates(base64.b64decode(data["ca.crt"]))


def test_an_operator_rolls_the_ca_over_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca_path = tmp_path / "ca.yaml"
    argv = ["render", str(BOOKSTORE_SPEC), "-o", str(tmp_path / "0"), "--ca-file", str(ca_path)]
    assert main([*argv, "--new-ca"]) == 0
    first = rendered_bundle(tmp_path, ca_path, "0")
    assert len(first) == 1
    assert main(["ca", "rotate", "--ca-file", str(ca_path)]) == 0
    assert "stage 1 of 3" in capsys.readouterr().out
    trusting = rendered_bundle(tmp_path, ca_path, "1")
    assert trusting[0] == first[0] and len(trusting) == 2
    assert main(["ca", "rotate", "--ca-file", str(ca_path), "--overlap-hours", "2"]) == 0
    assert "stage 2 of 3" in capsys.readouterr().out
    assert rendered_bundle(tmp_path, ca_path, "2") == [trusting[1], first[0]]
    capsys.readouterr()
    assert main(["ca", "status", "--ca-file", str(ca_path), "--mesh", str(BOOKSTORE_SPEC)]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].split() == ["stage", "retiring-previous"]
    assert [line.split()[0] for line in status[1:]] == ["issuer", "previous"]
    assert main(["ca", "rotate", "--ca-file", str(ca_path)]) == 2
    assert "ca-rollover-in-progress" in capsys.readouterr().err


def test_rotating_to_an_imported_ca_refuses_a_certificate_that_is_not_a_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca_path = tmp_path / "ca.yaml"
    ca_file.save(ca_path, ca_file.CaFile(current=seeded(1, OLD_START)))
    before = ca_path.read_bytes()
    leaf = STEADY_OLD.issue(BOOKSTORE, SWITCH)
    (tmp_path / "leaf.crt").write_bytes(leaf.certificate_pem)
    (tmp_path / "leaf.key").write_bytes(leaf.private_key_pem)
    argv = ["ca", "rotate", "--ca-file", str(ca_path)]
    assert main([*argv, "--certificate", str(tmp_path / "leaf.crt")]) == 2
    assert "ca-import-incomplete" in capsys.readouterr().err
    imported = ["--certificate", str(tmp_path / "leaf.crt"), "--key", str(tmp_path / "leaf.key")]
    assert main([*argv, *imported]) == 2
    err = capsys.readouterr().err
    assert "PRIVATE KEY" not in err
    assert ca_path.read_bytes() == before


def test_ca_init_creates_a_file_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ca.secret.yaml"
    assert main(["ca", "init", "--ca-file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert isinstance(ca_file.load(path).current, ca_file.SeededCa)
    before = path.read_bytes()
    assert main(["ca", "init", "--ca-file", str(path)]) == 2
    assert "ca-file-exists" in capsys.readouterr().err
    assert path.read_bytes() == before
