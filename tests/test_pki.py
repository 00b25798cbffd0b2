"""The mesh PKI: deterministic CA and leaves, verifying chains, exact rotation, real TLS."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_components import names, pki
from mesh_components.emit.envoy.types import DOWNSTREAM_TLS, TCP_PROXY
from mesh_components.errors import MeshValidationError
from mesh_components.model import Identity
from mesh_components.pipeline import envoy_check
from mesh_components.pki import CertificatePolicy, KeyType, MeshCA, TrustBundle
from tests.tls import handshake, tls_context, write_files

UTC = datetime.UTC
SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
CA_START = datetime.datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime.datetime(2025, 5, 17, 13, 37, 42, 123456, tzinfo=UTC)
BOOKSTORE = Identity("shop", "bookstore")
BOOKBUYER = Identity("shop", "bookbuyer")
MICROSECOND = datetime.timedelta(microseconds=1)


def make_ca(
    seed: bytes = SEED,
    *,
    key_type: KeyType = KeyType.ECDSA_P256,
    validity: datetime.timedelta = datetime.timedelta(days=3650),
    policy: CertificatePolicy | None = None,
) -> MeshCA:
    ca = MeshCA.from_seed(
        seed,
        trust_domain="cluster.local",
        not_before=CA_START,
        key_type=key_type,
        validity=validity,
    )
    return ca.with_policy(policy) if policy else ca


def leaf_of(issued: pki.IdentityCertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.certificate_pem)


def verified_client(
    ca: MeshCA, issued: pki.IdentityCertificate, at: datetime.datetime
) -> list[x509.GeneralName]:
    verifier = PolicyBuilder().store(Store([ca.certificate])).time(at).build_client_verifier()
    return list(verifier.verify(leaf_of(issued), []).subjects or [])


def codes(error: pytest.ExceptionInfo[MeshValidationError]) -> tuple[str, ...]:
    return error.value.codes


# Determinism and secrecy.


def test_same_seed_and_now_give_byte_identical_certificate_key_and_bundle() -> None:
    first, second = make_ca().issue(BOOKSTORE, NOW), make_ca().issue(BOOKSTORE, NOW)
    assert first.files() == second.files()
    assert first == second
    assert make_ca().certificate_pem == make_ca().certificate_pem


def test_different_seeds_give_different_cas_and_leaves() -> None:
    ours, theirs = make_ca(SEED), make_ca(OTHER_SEED)
    assert ours.certificate_pem != theirs.certificate_pem
    ours_files, theirs_files = (
        ours.issue(BOOKSTORE, NOW).files(),
        theirs.issue(BOOKSTORE, NOW).files(),
    )
    assert all(ours_files[name] != theirs_files[name] for name in ours_files)


def test_different_identities_get_different_keys() -> None:
    ca = make_ca()
    assert ca.issue(BOOKSTORE, NOW).private_key_pem != ca.issue(BOOKBUYER, NOW).private_key_pem


def test_private_keys_never_appear_in_repr_or_str() -> None:
    ca = make_ca()
    issued = ca.issue(BOOKSTORE, NOW)
    key = serialization.load_pem_private_key(issued.private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value
    for text in (repr(issued), str(issued), repr(ca), str(ca)):
        assert "redacted" in text
        assert "PRIVATE KEY" not in text
        assert f"{scalar:x}" not in text and str(scalar) not in text
        assert issued.private_key_pem.decode().splitlines()[1] not in text


def test_files_are_keyed_by_the_names_the_sidecar_reads() -> None:
    issued = make_ca().issue(BOOKSTORE, NOW)
    assert issued.files() == {
        names.CERT_CHAIN_FILE: issued.certificate_pem,
        names.PRIVATE_KEY_FILE: issued.private_key_pem,
        names.CA_BUNDLE_FILE: issued.ca_bundle_pem,
    }
    assert issued.ca_bundle_pem == make_ca().certificate_pem


def test_the_pki_exports_a_sorted_public_surface() -> None:
    assert pki.__all__ == sorted(pki.__all__)
    assert all(hasattr(pki, name) for name in pki.__all__)


# What the certificates say, and that their chains verify.


def test_leaf_chain_verifies_as_a_client_certificate_with_its_spiffe_id() -> None:
    ca = make_ca()
    subjects = verified_client(ca, ca.issue(BOOKSTORE, NOW), NOW)
    assert x509.UniformResourceIdentifier("spiffe://cluster.local/ns/shop/sa/bookstore") in subjects


def test_leaf_chain_verifies_as_a_server_certificate_for_its_dns_name() -> None:
    ca = make_ca()
    name = x509.DNSName("bookstore.shop.cluster.local")
    verifier = PolicyBuilder().store(Store([ca.certificate])).time(NOW).build_server_verifier(name)
    chain = verifier.verify(leaf_of(ca.issue(BOOKSTORE, NOW)), [])
    assert chain[-1] == ca.certificate


def test_leaf_from_another_ca_does_not_verify() -> None:
    with pytest.raises(VerificationError):
        verified_client(make_ca(), make_ca(OTHER_SEED).issue(BOOKSTORE, NOW), NOW)


def test_leaf_carries_spiffe_and_dns_sans_and_both_auth_usages() -> None:
    extensions = leaf_of(make_ca().issue(BOOKSTORE, NOW)).extensions
    san = extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/shop/sa/bookstore"
    ]
    assert san.value.get_values_for_type(x509.DNSName) == ["bookstore.shop.cluster.local"]
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    assert not extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_leaf_links_to_its_issuer_by_key_identifier() -> None:
    ca = make_ca()
    aki = leaf_of(ca.issue(BOOKSTORE, NOW)).extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    )
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.value.key_identifier == ski.value.digest


def test_root_is_an_ecdsa_p256_ca_valid_for_ten_years_that_signs_leaves_only() -> None:
    root = make_ca().certificate
    public_key = root.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert root.not_valid_before_utc == CA_START
    assert root.not_valid_after_utc - CA_START == datetime.timedelta(days=3650)


def test_serials_are_positive_and_fit_in_twenty_octets() -> None:
    ca = make_ca()
    serials = {ca.certificate.serial_number, ca.issue(BOOKSTORE, NOW).serial}
    serials.add(ca.issue(BOOKBUYER, NOW).serial)
    assert len(serials) == 3
    assert all(0 < serial < 2**159 for serial in serials)


def test_signatures_are_deterministic_ecdsa_with_sha256() -> None:
    leaf = leaf_of(make_ca().issue(BOOKSTORE, NOW))
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    assert leaf.signature == leaf_of(make_ca().issue(BOOKSTORE, NOW)).signature


# Rotation, with an injected clock.

POLICY = CertificatePolicy()
FIRST_RENEWAL = CA_START + POLICY.renew_every


def test_default_policy_is_ninety_days_renewed_in_the_last_thirty() -> None:
    assert POLICY.validity == datetime.timedelta(days=90)
    assert POLICY.renew_every == datetime.timedelta(days=60)


def test_certificate_is_identical_at_every_instant_inside_one_period() -> None:
    ca = make_ca()
    instants = [
        CA_START,
        CA_START + MICROSECOND,
        CA_START + datetime.timedelta(days=17, seconds=5),
        FIRST_RENEWAL - MICROSECOND,
    ]
    issued = {ca.issue(BOOKSTORE, at) for at in instants}
    assert len(issued) == 1
    (only,) = issued
    assert only.not_before == CA_START
    assert only.not_after == CA_START + POLICY.validity
    assert only.renews_at == FIRST_RENEWAL


def test_certificate_changes_exactly_when_the_renewal_window_opens() -> None:
    ca = make_ca()
    before = ca.issue(BOOKSTORE, FIRST_RENEWAL - MICROSECOND)
    at = ca.issue(BOOKSTORE, FIRST_RENEWAL)
    assert before.not_before == CA_START
    assert at.not_before == FIRST_RENEWAL
    assert at.certificate_pem != before.certificate_pem
    assert at == ca.issue(BOOKSTORE, FIRST_RENEWAL + POLICY.renew_every - MICROSECOND)


def test_each_rotation_rotates_the_leaf_key() -> None:
    ca = make_ca()
    old, new = ca.issue(BOOKSTORE, CA_START), ca.issue(BOOKSTORE, FIRST_RENEWAL)
    assert old.private_key_pem != new.private_key_pem


def test_replaced_certificate_still_verifies_for_the_whole_renewal_window() -> None:
    ca = make_ca()
    old = ca.issue(BOOKSTORE, FIRST_RENEWAL - MICROSECOND)
    assert old.not_after == FIRST_RENEWAL + POLICY.renewal_window
    for at in (FIRST_RENEWAL, old.not_after):
        assert verified_client(ca, old, at)
    with pytest.raises(VerificationError):
        verified_client(ca, old, old.not_after + datetime.timedelta(seconds=1))


def test_a_custom_policy_sets_validity_and_the_renewal_period() -> None:
    policy = CertificatePolicy(
        validity=datetime.timedelta(hours=24), renewal_window=datetime.timedelta(hours=8)
    )
    ca = make_ca(policy=policy)
    at = CA_START + datetime.timedelta(hours=16)
    assert ca.issue(BOOKSTORE, at - MICROSECOND).not_before == CA_START
    issued = ca.issue(BOOKSTORE, at)
    assert (issued.not_before, issued.not_after) == (at, at + datetime.timedelta(hours=24))


def test_a_leaf_never_outlives_its_ca() -> None:
    ca = make_ca(validity=datetime.timedelta(days=100))
    issued = ca.issue(BOOKSTORE, CA_START + datetime.timedelta(days=61))
    assert issued.not_after == ca.not_after
    assert verified_client(ca, issued, ca.not_after)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=64),
    offset=st.timedeltas(min_value=datetime.timedelta(0), max_value=datetime.timedelta(days=3000)),
)
def test_any_seed_and_instant_give_a_current_verifying_certificate(
    seed: bytes, offset: datetime.timedelta
) -> None:
    ca, now = make_ca(seed), CA_START + offset
    issued = ca.issue(BOOKSTORE, now)
    assert issued.not_before <= now < issued.renews_at
    assert issued.renews_at - issued.not_before == POLICY.renew_every
    assert verified_client(ca, issued, now)


# Rejected input: a stable code each.


def test_a_short_seed_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(MeshValidationError, match="at least 32 bytes") as error:
        make_ca(b"x" * 31)
    assert codes(error) == ("ca-seed-too-short",)


def test_a_text_seed_is_rejected() -> None:
    with pytest.raises(MeshValidationError) as error:
        make_ca("x" * 40)  # type: ignore[arg-type]
    assert codes(error) == ("ca-seed-not-bytes",)


def test_naive_times_are_rejected() -> None:
    with pytest.raises(MeshValidationError) as error:
        make_ca().issue(BOOKSTORE, NOW.replace(tzinfo=None))
    assert codes(error) == ("time-not-timezone-aware",)


def test_issuing_outside_the_ca_validity_is_rejected() -> None:
    ca = make_ca()
    with pytest.raises(MeshValidationError) as early:
        ca.issue(BOOKSTORE, CA_START - MICROSECOND)
    with pytest.raises(MeshValidationError) as late:
        ca.issue(BOOKSTORE, ca.not_after + MICROSECOND)
    assert (codes(early), codes(late)) == (("ca-not-yet-valid",), ("ca-expired",))


def test_a_renewal_window_as_long_as_the_validity_is_rejected() -> None:
    with pytest.raises(MeshValidationError) as error:
        CertificatePolicy(renewal_window=datetime.timedelta(days=90))
    assert codes(error) == ("policy-renewal-window-too-long",)


def test_non_positive_or_fractional_durations_are_rejected_together() -> None:
    with pytest.raises(MeshValidationError) as error:
        CertificatePolicy(validity=datetime.timedelta(0), renewal_window=MICROSECOND)
    assert [p.path for p in error.value.problems] == [
        "pki.policy.renewal_window",
        "pki.policy.validity",
    ]


# Imported CAs.


def user_ca(*, is_ca: bool = True, can_sign: bool = True) -> tuple[bytes, bytes]:
    """A CA made the way a user would, with a random key."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corp mesh CA")])
    key_usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=can_sign,
        crl_sign=can_sign,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(CA_START)
        .not_valid_after(CA_START + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .sign(key, hashes.SHA384())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def test_an_imported_ca_issues_stable_leaves_that_chain_to_it() -> None:
    certificate_pem, key_pem = user_ca()
    ca = MeshCA.imported(certificate_pem, key_pem, trust_domain="cluster.local")
    again = MeshCA.imported(certificate_pem, key_pem, trust_domain="cluster.local")
    issued = ca.issue(BOOKSTORE, NOW)
    assert issued == again.issue(BOOKSTORE, NOW)
    assert issued.not_before == CA_START + POLICY.renew_every * 2
    assert verified_client(ca, issued, NOW)
    assert "redacted" in repr(ca)


def test_an_imported_ca_with_a_mismatched_key_is_rejected() -> None:
    certificate_pem, _ = user_ca()
    _, other_key_pem = user_ca()
    with pytest.raises(MeshValidationError, match="not the certificate's") as error:
        MeshCA.imported(certificate_pem, other_key_pem, trust_domain="cluster.local")
    assert codes(error) == ("ca-key-mismatch",)


def test_an_imported_certificate_that_is_not_a_ca_is_rejected() -> None:
    with pytest.raises(MeshValidationError) as error:
        MeshCA.imported(*user_ca(is_ca=False), trust_domain="cluster.local")
    assert codes(error) == ("ca-certificate-not-ca",)


def test_an_imported_ca_that_may_not_sign_certificates_is_rejected() -> None:
    with pytest.raises(MeshValidationError) as error:
        MeshCA.imported(*user_ca(can_sign=False), trust_domain="cluster.local")
    assert codes(error) == ("ca-certificate-cannot-sign",)


def test_unreadable_certificate_and_key_are_reported_together() -> None:
    with pytest.raises(MeshValidationError) as error:
        MeshCA.imported(b"not a cert", b"not a key", trust_domain="cluster.local")
    assert codes(error) == ("ca-certificate-unreadable", "ca-key-unreadable")


# The trust bundle (a CA rollover publishes two).


def test_a_bundle_of_two_cas_is_published_in_order_and_must_hold_the_issuer() -> None:
    new, old = make_ca(), make_ca(OTHER_SEED)
    bundle = TrustBundle.of(new.certificate, old.certificate, new.certificate)
    issued = new.issue(BOOKSTORE, NOW, bundle=bundle)
    assert issued.ca_bundle_pem == new.certificate_pem + old.certificate_pem
    with pytest.raises(MeshValidationError) as error:
        new.issue(BOOKSTORE, NOW, bundle=TrustBundle.of(old.certificate))
    assert codes(error) == ("bundle-missing-issuer",)


# RSA, an option.


def test_an_rsa_ca_and_rsa_leaves_are_deterministic_and_verify() -> None:
    policy = CertificatePolicy(key_type=KeyType.RSA_2048)
    ca = make_ca(key_type=KeyType.RSA_2048, policy=policy)
    issued = ca.issue(BOOKSTORE, NOW)
    assert ca.certificate.public_key().key_size == 2048  # type: ignore[union-attr]
    assert (
        issued.files()
        == make_ca(key_type=KeyType.RSA_2048, policy=policy).issue(BOOKSTORE, NOW).files()
    )
    usage = leaf_of(issued).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    assert verified_client(ca, issued, NOW)


def test_an_rsa_3072_key_has_exactly_3072_bits() -> None:
    ca = make_ca(key_type=KeyType.RSA_3072)
    assert ca.certificate.public_key().key_size == 3072  # type: ignore[union-attr]


# Real TLS: Envoy loads the files, and two identities complete a mutual handshake.


def tls_listener_bootstrap(certs: Path) -> str:
    """A static bootstrap whose one listener terminates mTLS with the files in `certs`."""
    tls = DOWNSTREAM_TLS.config(
        require_client_certificate=True,
        common_tls_context={
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": str(certs / names.CERT_CHAIN_FILE)},
                    "private_key": {"filename": str(certs / names.PRIVATE_KEY_FILE)},
                }
            ],
            "validation_context": {
                "trusted_ca": {"filename": str(certs / names.CA_BUNDLE_FILE)},
                "match_typed_subject_alt_names": [
                    {"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}
                ],
            },
        },
    )
    tcp_proxy = TCP_PROXY.config(stat_prefix="inbound", cluster="app")
    address = {"socket_address": {"address": "127.0.0.1", "port_value": 15003}}
    listener = {
        "name": "inbound",
        "address": address,
        "filter_chains": [
            {
                "filters": [tcp_proxy],
                "transport_socket": tls,
            }
        ],
    }
    cluster = {"name": "app", "type": "STATIC", "load_assignment": {"cluster_name": "app"}}
    return yaml.safe_dump({"static_resources": {"listeners": [listener], "clusters": [cluster]}})


@pytest.mark.envoy
def test_envoy_accepts_the_certificate_key_and_bundle(envoy_binary: Path, tmp_path: Path) -> None:
    certs = write_files(tmp_path, make_ca().issue(BOOKSTORE, datetime.datetime.now(UTC)))
    verdict = envoy_check.validate_yaml(envoy_binary, "pki", tls_listener_bootstrap(certs))
    assert verdict.accepted, verdict.output


@pytest.mark.envoy
def test_envoy_rejects_a_key_that_is_not_the_certificates(
    envoy_binary: Path, tmp_path: Path
) -> None:
    ca = make_ca()
    certs = write_files(tmp_path, ca.issue(BOOKSTORE, NOW))
    (certs / names.PRIVATE_KEY_FILE).write_bytes(ca.issue(BOOKBUYER, NOW).private_key_pem)
    verdict = envoy_check.validate_yaml(envoy_binary, "pki", tls_listener_bootstrap(certs))
    assert not verdict.accepted


def test_two_identities_complete_a_mutual_tls_handshake(tmp_path: Path) -> None:
    # OpenSSL checks validity against the real clock, so issue for the real now.
    ca, now = make_ca(), datetime.datetime.now(UTC)
    client_ctx = tls_context(
        write_files(tmp_path / "c", ca.issue(BOOKBUYER, now)), server_side=False
    )
    server_ctx = tls_context(
        write_files(tmp_path / "s", ca.issue(BOOKSTORE, now)), server_side=True
    )
    server = handshake(client_ctx, server_ctx)
    peer = server.getpeercert()
    assert peer is not None
    assert ("URI", "spiffe://cluster.local/ns/shop/sa/bookbuyer") in peer["subjectAltName"]
