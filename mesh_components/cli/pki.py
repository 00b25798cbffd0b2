"""The PKI's verbs: `certs status` (for cron and CI) and `ca init|rotate|status` (CA rollover).

`add_commands(commands)` registers them on the main parser. Status verbs print a table on a
terminal, their historical lines in a pipe, and data with `-o json|yaml`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes

from mesh_components import inputs
from mesh_components.cli.certs_status import (
    DEFAULT_WINDOW,
    CertificateStatus,
    Health,
    identity_secrets,
    statuses,
)
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pipeline.specfile import read_spec
from mesh_components.pki import MeshCA, MeshTrust, ca_file, ca_rotation
from mesh_components.terminal.console import Table, show, show_data, show_error
from mesh_components.terminal.parser import Commands, add_output_format, add_verb, number_within
from mesh_components.validate import validate

EXIT_INVALID = 2
MAX_OVERLAP_HOURS = 366 * 24  # the previous CA trusted for at most a year after the switch
MAX_WINDOW_DAYS = 3660  # a renewal window longer than any certificate lives
_HEALTH_STYLES = (
    (r"\bok\b", "green"),
    (r"\brenew\b", "bold yellow"),
    (r"\bexpired\b", "bold red"),
)


def add_commands(commands: Commands) -> None:
    """`certs status` and `ca init|rotate|status`."""
    certs = add_verb(
        commands, "certs", "certificate tools", "python -m mesh_components certs status k8s/"
    )
    certs_commands = certs.add_subparsers(required=True, metavar="COMMAND")
    status = add_verb(
        certs_commands,
        "status",
        "one line per identity certificate; fails inside the renewal window",
        "python -m mesh_components certs status k8s/   # in a daily cron job\n"
        "python -m mesh_components certs status k8s/ -o json\n\n"
        "exit codes: 0 all fine, 1 a certificate is due for renewal or expired, 2 none found",
    )
    status.add_argument("path", type=Path, help="a render directory or a file of manifests")
    status.add_argument(
        "--renewal-window-days",
        type=number_within(MAX_WINDOW_DAYS, "days"),
        default=DEFAULT_WINDOW.days,
        help="default: %(default)s",
    )
    add_output_format(status)
    status.set_defaults(run=_certs_status)
    _ca_commands(commands)


def _ca_commands(commands: Commands) -> None:
    ca = add_verb(
        commands,
        "ca",
        "the mesh CA: create, roll over, status",
        "python -m mesh_components ca init --ca-file mesh-ca.secret.yaml",
    )
    verbs = ca.add_subparsers(required=True, metavar="COMMAND")
    init = add_verb(
        verbs,
        "init",
        "create a new mesh CA file (never over one)",
        "python -m mesh_components ca init --ca-file mesh-ca.secret.yaml",
    )
    init.add_argument("--ca-file", type=Path, required=True, help="where to write it")
    init.set_defaults(run=_ca_init)
    _ca_rotate_command(verbs)
    status = add_verb(
        verbs,
        "status",
        "the rollover stage and every CA in the file",
        "python -m mesh_components ca status --ca-file mesh-ca.secret.yaml "
        "--mesh examples/bookstore",
    )
    status.add_argument("--ca-file", type=Path, required=True, help="the mesh's CA file")
    status.add_argument("--mesh", type=Path, required=True, help="the mesh spec (trust domain)")
    add_output_format(status)
    status.set_defaults(run=_ca_status)


def _ca_rotate_command(verbs: Commands) -> None:
    rotate = add_verb(
        verbs,
        "rotate",
        "advance a CA rollover by one stage (run, apply, run again, apply)",
        "python -m mesh_components ca rotate --ca-file mesh-ca.secret.yaml\n"
        "python -m mesh_components ca rotate --ca-file mesh-ca.secret.yaml "
        "--certificate ca.crt --key ca.key",
    )
    rotate.add_argument("--ca-file", type=Path, required=True, help="the mesh's CA file")
    rotate.add_argument(
        "--overlap-hours",
        type=number_within(MAX_OVERLAP_HOURS, "hours"),
        default=ca_rotation.DEFAULT_OVERLAP.total_seconds() / 3600,
        help="how long the previous CA stays trusted after stage 2 (default: %(default)s)",
    )
    rotate.add_argument("--certificate", type=Path, help="roll to this CA certificate (PEM)")
    rotate.add_argument("--key", type=Path, help="and its private key (PEM, unencrypted)")
    rotate.set_defaults(run=_ca_rotate)


def _certs_status(args: argparse.Namespace) -> int:
    """Exit 1 when any certificate is inside its renewal window or expired, 2 when none found."""
    found = statuses(
        identity_secrets(args.path),
        datetime.now(UTC),
        timedelta(days=args.renewal_window_days),
    )
    if not found:
        show_error(
            f"error: no mesh identity Secrets under {args.path}. Fix: pass the directory "
            "`render` wrote (or a file of its manifests), not a spec or a part of it"
        )
        return EXIT_INVALID
    if args.output == "table":
        show([_status_table(found)], _HEALTH_STYLES)
    else:
        show_data([_status_data(s) for s in found], args.output)
    return 1 if any(s.health is not Health.OK for s in found) else 0


def _status_table(found: list[CertificateStatus]) -> Table:
    headers = ("HEALTH", "SECRET", "SANS", "SERIAL", "VALID", "DAYS LEFT")
    rows = tuple(
        (
            s.health.value,
            s.secret,
            list(s.sans),
            f"{s.serial:x}",
            f"{s.not_before:%Y-%m-%d} .. {s.not_after:%Y-%m-%d}",
            f"{s.days_left:.1f}",
        )
        for s in found
    )
    return Table(headers, rows, plain_text="\n".join(s.line() for s in found))


def _status_data(status: CertificateStatus) -> dict[str, Any]:
    return {
        "secret": status.secret,
        "health": status.health.value,
        "subject": status.subject,
        "sans": list(status.sans),
        "serial": f"{status.serial:x}",
        "notBefore": status.not_before.isoformat(),
        "notAfter": status.not_after.isoformat(),
        "daysLeft": round(status.days_left, 1),
    }


def _ca_init(args: argparse.Namespace) -> int:
    ca_file.check_new(args.ca_file)
    ca_file.save(args.ca_file, ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC))))
    print(f"created a new mesh CA in {args.ca_file}: keep it secret, never commit it")
    return 0


def _ca_rotate(args: argparse.Namespace) -> int:
    """Nothing is written unless the new state is a valid rollover."""
    now = datetime.now(UTC)
    state = ca_file.load(args.ca_file)
    incoming = _incoming_ca(args, now)
    overlap = timedelta(hours=args.overlap_hours)
    rotated = ca_rotation.rotate(state, now, incoming, overlap)
    ca_file.save(args.ca_file, rotated.state)
    print(rotated.message)
    return 0


def _incoming_ca(args: argparse.Namespace, now: datetime) -> ca_file.CaSource:
    if (args.certificate is None) != (args.key is None):
        fix = "pass both --certificate and --key, or neither for a new built-in CA"
        found = "only one of them"
        problem = Problem("--certificate/--key", "ca-import-incomplete", "both", found, fix)
        raise MeshValidationError([problem])
    if args.certificate is None:
        return ca_file.new_seed(now)
    certificate, key = inputs.read_text(args.certificate), inputs.read_text(args.key)
    return ca_file.ImportedCa(certificate.encode(), key.encode()).check()


def _ca_status(args: argparse.Namespace) -> int:
    spec = validate(read_spec(args.mesh))
    trust = ca_file.load(args.ca_file).trust(spec.settings.trust_domain)
    now = datetime.now(UTC)
    if args.output == "table":
        show(["\n".join(ca_rotation.status_lines(trust, now))], [(r"^stage +\S+", "bold")])
    else:
        show_data(_ca_data(trust, now), args.output)
    return 0


def _ca_data(trust: MeshTrust, now: datetime) -> dict[str, Any]:
    roles = {"issuer": trust.issuer, "next": trust.next, "previous": trust.previous}
    until = trust.previous_trusted_until
    return {
        "stage": trust.stage(now).value,
        "previousTrustedUntil": None if until is None else until.isoformat(),
        "authorities": [_ca_entry(role, ca) for role, ca in roles.items() if ca is not None],
    }


def _ca_entry(role: str, ca: MeshCA) -> dict[str, str]:
    certificate = ca.certificate
    return {
        "role": role,
        "subject": certificate.subject.rfc4514_string(),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(),
        "notBefore": certificate.not_valid_before_utc.isoformat(),
        "notAfter": certificate.not_valid_after_utc.isoformat(),
    }
