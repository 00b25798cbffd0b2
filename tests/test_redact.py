"""What the CLI prints of user text: no secret, no raw control byte."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mesh_components.cli import main
from mesh_components.terminal.console import show_error
from mesh_components.terminal.redact import REDACTED, printable, redact

SEED = "9f" * 32


def test_known_secrets_pem_keys_and_seeds_are_redacted() -> None:
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"
    text = f"token hunter2-xyz, key {key}, ca 'seed: {SEED}'"
    shown = redact(text, ["hunter2-xyz", "ab"])
    assert "hunter2" not in shown and "MHcCAQEE" not in shown and SEED not in shown
    assert shown.count(REDACTED) == 3
    assert "ab" in redact("ab", ["ab"])  # too short to hide without hiding everything else


def test_a_truncated_private_key_is_redacted_to_the_end() -> None:
    assert "MHc" not in redact("-----BEGIN PRIVATE KEY-----\nMHcCAQEE")


def test_control_bytes_are_escaped_but_tabs_and_newlines_kept() -> None:
    assert printable("a\x1b[2Jb\rc\td\ne\x9b") == "a\\x1b[2Jb\\x0dc\td\ne\\x9b"


def test_show_error_never_prints_a_seed_or_an_escape() -> None:
    out = io.StringIO()
    show_error(f"error: seed={SEED} in \x1b]0;title\x07", out)
    assert (
        SEED not in out.getvalue() and "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    )


def test_a_failing_program_that_holds_the_ca_seed_never_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: leaky\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(f'ca = "seed: {SEED}"\nraise ValueError("bad " + ca)\n')
    assert main(["render", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr()
    assert SEED not in printed.out + printed.err
    assert "ValueError: bad seed: <redacted>" in printed.err
    assert f"{tmp_path}/__main__.py" in printed.err and "<frozen runpy>" not in printed.err


def test_a_secret_config_value_in_a_program_error_is_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: leaky\nruntime: python\nconfig:\n  token:\n    type: string\n    secret: true\n"
    )
    program = "import pulumi\nraise RuntimeError(pulumi.Config().get('token'))\n"
    (tmp_path / "__main__.py").write_text(program)
    argv = ["render", str(tmp_path), "-o", str(tmp_path / "out"), "--config", "token=s3cr3t-value"]
    assert main(argv) == 2
    assert "s3cr3t-value" not in capsys.readouterr().err


def test_a_seed_python_quotes_in_an_error_is_redacted_wherever_it_stands() -> None:
    shown = redact(f"NameError: name '{SEED}' is not defined")
    assert SEED not in shown and shown == f"NameError: name '{REDACTED}' is not defined"
    assert redact("sha256 " + "ab" * 8) == "sha256 " + "ab" * 8  # short hex stays
