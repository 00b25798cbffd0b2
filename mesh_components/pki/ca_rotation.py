"""`ca rotate` and `ca status`: move a CA file one stage through a rollover, and show where it is.

Each call does one stage (see `mesh_components.pki.rollover`): the first adds a next CA that
everyone trusts, the second makes it the issuer and keeps the previous one trusted for the
overlap. Dropping the previous CA needs no call: renders stop trusting it once the overlap ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pki.authority import MeshCA
from mesh_components.pki.ca_file import CaFile, CaSource
from mesh_components.pki.rollover import MeshTrust

DEFAULT_OVERLAP = timedelta(hours=24)
MIN_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Rotated:
    """The CA file after one stage, and what the operator must do now."""

    state: CaFile
    message: str


def rotate(state: CaFile, now: datetime, incoming: CaSource, overlap: timedelta) -> Rotated:
    """Stage 1 (trust `incoming`) or stage 2 (issue from the next CA), whichever is due."""
    if overlap < MIN_OVERLAP:
        fix = f"pass an overlap of at least {MIN_OVERLAP}, long enough for every pod to update"
        found = str(overlap)
        raise MeshValidationError([Problem("overlap", "ca-overlap-too-short", ">= 1h", found, fix)])
    if state.next is not None:
        return _issue_from_next(state, now, overlap)
    until = state.previous_trusted_until
    if until is not None and now < until:
        fix = f"wait until {until.isoformat()}, when renders stop trusting the previous CA"
        expected = "no rollover under way"
        found = f"the previous CA is trusted until {until.isoformat()}"
        raise MeshValidationError([Problem("ca", "ca-rollover-in-progress", expected, found, fix)])
    return Rotated(
        CaFile(current=state.current, next=incoming),
        "CA rollover stage 1 of 3: the next CA is now trusted beside the current one, which "
        "still issues every certificate.\n"
        "Now: render and apply (pulumi up, or kubectl apply), then wait until every pod has the "
        "new ca.crt (the kubelet refreshes mounted Secrets within about a minute).\n"
        "Then: run `ca rotate` again.",
    )


def _issue_from_next(state: CaFile, now: datetime, overlap: timedelta) -> Rotated:
    assert state.next is not None
    until = (now + overlap).replace(microsecond=0)
    return Rotated(
        CaFile(current=state.next, previous=state.current, previous_trusted_until=until),
        "CA rollover stage 2 of 3: the next CA now issues every certificate; the previous CA "
        f"stays trusted until {until.isoformat()}.\n"
        "Now: render and apply right away, so every pod gets a certificate from the new CA "
        "while both are trusted.\n"
        f"Stage 3 needs nothing: renders from {until.isoformat()} on trust the new CA alone.",
    )


def status_lines(trust: MeshTrust, now: datetime) -> list[str]:
    """One line for the rollover stage, then one per CA: role, subject, fingerprint, validity."""
    lines = [f"stage    {trust.stage(now).value}"]
    roles = [("issuer", trust.issuer, ""), ("next", trust.next, "")]
    until = trust.previous_trusted_until
    if until is not None:
        trusted = "trusted until" if now < until else "no longer trusted since"
        roles.append(("previous", trust.previous, f"  {trusted} {until.isoformat()}"))
    for role, ca, note in roles:
        if ca is not None:
            lines.append(f"{role:<8} {_describe(ca)}{note}")
    return lines


def _describe(ca: MeshCA) -> str:
    fingerprint = ca.certificate.fingerprint(hashes.SHA256()).hex()[:16]
    subject = ca.certificate.subject.rfc4514_string()
    return f"{subject}  sha256 {fingerprint}  {ca.not_before:%Y-%m-%d} .. {ca.not_after:%Y-%m-%d}"
