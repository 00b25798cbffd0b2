"""The command line as people meet it: an example in every `--help` that really parses, rich
tables and colours on a terminal only, `-o json|yaml` that parses back, progress bars on a
terminal's stderr, and one-paragraph errors that say what to do."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import re
import select
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from mesh_components.cli import app as cli
from mesh_components.pipeline.manifests import manifest_files
from mesh_components.pipeline.output import write_tree
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import read_spec
from mesh_components.pki import ca_file
from mesh_components.terminal import console
from mesh_components.terminal.console import Table
from mesh_components.terminal.parser import PROGRAM
from tests.test_inspect_goldens import run_cli

ROOT = Path(__file__).resolve().parent.parent
BOOKSTORE = "examples/bookstore"
ESCAPE = "\x1b["
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[25];[0-9;]+|9[0-7])m")
PROXY_CONFIG = ["proxy-config", BOOKSTORE, "--workload", "bookbuyer/bookbuyer", "listeners"]


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


# --- help: every verb has an example that parses -----------------------------------------


def _verbs(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], argparse.ArgumentParser]
]:  # fmt: skip
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from _verbs(child, (*path, name))


VERBS = dict(_verbs(cli._parser()))


def _examples(help_text: str) -> list[str]:
    """The example commands under `examples:`, continuation lines joined, comments dropped."""
    section = help_text.split("\nexamples:\n", 1)[1]
    joined = re.sub(r"\\\n\s*", "", section)
    commands = []
    for line in joined.splitlines():
        start = line.find(PROGRAM + " ")
        if start >= 0:
            command = line[start + len(PROGRAM) :].split(" #")[0]
            commands.append(re.split(r" [|>] ", command)[0].strip())
    return commands


def test_every_verb_is_listed() -> None:
    expected = {
        "validate", "compile", "render", "inject", "demo", "import", "proxy-config", "explain",
        "diff", "graph", "certs status", "ca init", "ca rotate", "ca status", "local up",
        "local update", "local down", "local status", "local curl",
    }  # fmt: skip
    assert expected <= {" ".join(path) for path in VERBS}


@pytest.mark.parametrize("verb", sorted(" ".join(path) for path in VERBS))
def test_every_help_has_an_example_that_parses(verb: str) -> None:
    help_text = VERBS[tuple(verb.split())].format_help()
    assert "\nexamples:\n" in help_text, verb
    examples = _examples(help_text)
    assert examples, f"{verb}: no `{PROGRAM} ...` example"
    assert any(e.split()[: len(verb.split())] == verb.split() for e in examples), verb
    for example in examples:
        parsed = cli._parser().parse_args(shlex.split(example))
        assert callable(parsed.run), example


def test_the_main_help_has_examples_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    for example in _examples(capsys.readouterr().out):
        assert callable(cli._parser().parse_args(shlex.split(example)).run)


def test_the_short_console_script_is_installed_beside_the_long_one() -> None:
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["mesh"] == scripts["mesh-components"] == "mesh_components.cli:main"


def test_usage_names_the_script_the_user_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/mesh"])
    assert cli._parser().prog == "mesh"
    monkeypatch.setattr(sys, "argv", ["/x/pytest"])
    assert cli._parser().prog == PROGRAM


# --- terminals and pipes -------------------------------------------------------------------


def test_a_pipe_gets_plain_text_without_escape_codes() -> None:
    code, output = run_cli(shlex.join(PROXY_CONFIG))
    assert code == 0
    assert ESCAPE not in output
    assert "LISTENER    ADDRESS        DIRECTION" in output


def _on_a_pty(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; (exit code, what it showed)."""
    leader, follower = pty.openpty()
    environment = {**os.environ, "COLUMNS": "200", "LINES": "50", **env}
    environment.pop("NO_COLOR", None) if "NO_COLOR" not in env else None
    process = subprocess.Popen(
        [sys.executable, "-m", "mesh_components", *argv],
        stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, cwd=ROOT, env=environment,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_rich_tables_in_colour() -> None:
    code, shown = _on_a_pty(PROXY_CONFIG, {"TERM": "xterm-256color"})
    assert code == 0
    assert COLOUR.search(shown), shown
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert "LISTENER" in text and "outbound|14001" in text
    assert "LISTENER    ADDRESS        DIRECTION" not in text  # rich's layout, not the pipe's


def test_no_color_keeps_the_tables_and_drops_the_colour() -> None:
    code, shown = _on_a_pty(PROXY_CONFIG, {"TERM": "xterm-256color", "NO_COLOR": "1"})
    assert code == 0
    assert not COLOUR.search(shown), shown
    assert "outbound|14001" in shown


def test_a_dumb_terminal_gets_the_plain_text() -> None:
    code, shown = _on_a_pty(PROXY_CONFIG, {"TERM": "dumb"})
    assert code == 0
    assert ESCAPE not in shown
    assert "LISTENER    ADDRESS        DIRECTION" in shown.replace("\r\n", "\n")


def test_the_same_report_is_plain_in_a_pipe_and_rich_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    report = ["heading", Table(("A", "BB"), (("1", ["x", "y"]),), title="T")]
    piped, shown = io.StringIO(), _Terminal()
    console.show(report, [("heading", "red")], stream=piped)
    console.show(report, [("heading", "red")], stream=shown)
    assert piped.getvalue() == "heading\n\nT\nA  BB\n1  x\n   y\n"
    assert COLOUR.search(shown.getvalue())
    assert "heading" in shown.getvalue() and "BB" in shown.getvalue()


def test_verdicts_and_diffs_are_coloured_on_a_terminal_only() -> None:
    denied = [
        *("explain", BOOKSTORE),
        *("--from", "bookthief/bookthief", "--to", "bookstore.bookstore:14001"),
    ]
    code, shown = _on_a_pty(denied, {"TERM": "xterm-256color"})
    assert code == 1
    assert re.search(r"\x1b\[[0-9;]*31m[^\x1b]*(DENIED|UNROUTABLE)", shown), shown
    code, output = run_cli(shlex.join(denied))
    assert ESCAPE not in output


# --- -o json|yaml parse back -------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        f"proxy-config {BOOKSTORE} --workload bookbuyer/bookbuyer routes",
        f"explain {BOOKSTORE} --from bookbuyer/bookbuyer --to bookstore.bookstore:14001",
        f"diff {BOOKSTORE} tests/goldens_inspect/inputs/bookstore-100-0",
        f"validate {BOOKSTORE}",
    ],
)
def test_json_and_yaml_give_the_same_data(command: str) -> None:
    json_code, as_json = run_cli(f"{command} -o json")
    yaml_code, as_yaml = run_cli(f"{command} -o yaml")
    assert json_code == yaml_code
    assert json.loads(as_json) == yaml.safe_load(as_yaml)


def test_validate_as_data_lists_workloads_ports_and_weights() -> None:
    code, output = run_cli(f"validate {BOOKSTORE} -o json")
    assert code == 0
    report = json.loads(output)
    assert report["valid"] is True
    buyer = next(w for w in report["workloads"] if w["workload"] == "bookbuyer/bookbuyer")
    (port,) = buyer["outbound"]
    weights = {b["service"]: b["weight"] for b in port["destinations"][0]["backends"]}
    assert weights == {"bookstore/bookstore-v1": 50, "bookstore/bookstore-v2": 50}
    thief = next(w for w in report["workloads"] if w["workload"] == "bookthief/bookthief")
    assert thief["outbound"] == []


def test_an_invalid_spec_as_data_lists_every_problem_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = (ROOT / BOOKSTORE / "mesh.yaml").read_text().replace("weight: 50", "weight: -1")
    (tmp_path / "mesh.yaml").write_text(spec)
    assert cli.main(["validate", str(tmp_path), "-o", "json"]) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["valid"] is False
    assert {p["code"] for p in report["problems"]} == {
        "split-weight-negative",
        "split-weights-zero",
    }
    assert all(p["fix"] for p in report["problems"])
    assert "[split-weight-negative]" in err


def test_certs_and_ca_status_as_data(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    state = ca_file.CaFile(current=ca_file.new_seed(now))
    ca_path = tmp_path / "ca.secret.yaml"
    ca_file.save(ca_path, state)
    spec = read_spec(ROOT / BOOKSTORE)
    rendered = render(spec, state.trust(spec.settings.trust_domain), now)
    write_tree(tmp_path / "k8s", manifest_files(rendered.objects))
    code, output = run_cli(f"certs status {tmp_path / 'k8s'} -o json")
    assert code == 0
    statuses = json.loads(output)
    assert len(statuses) == 6 and {s["health"] for s in statuses} == {"ok"}
    code, output = run_cli(f"ca status --ca-file {ca_path} --mesh {BOOKSTORE} -o yaml")
    assert code == 0
    status = yaml.safe_load(output)
    assert [a["role"] for a in status["authorities"]] == ["issuer"]
    code, output = run_cli(f"certs status {tmp_path / 'k8s'}")
    assert output.startswith("ok      bookbuyer/bookbuyer-mesh-identity")  # lines, as before


def test_inject_prints_json_as_a_kubernetes_list(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "bookbuyer", "namespace": "bookbuyer"},
                "spec": {
                    "selector": {"matchLabels": {"app": "bookbuyer"}},
                    "template": {
                        "metadata": {"labels": {"app": "bookbuyer", "version": "v1"}},
                        "spec": {
                            "serviceAccountName": "bookbuyer",
                            "containers": [{"name": "bookbuyer", "image": "x"}],
                        },
                    },
                },
            }
        )
    )
    ca = tmp_path / "ca.secret.yaml"
    command = f"inject -f {app} --mesh {BOOKSTORE} --ca-file {ca} --new-ca -o json"
    code, output = run_cli(command)
    assert code == 0, output
    document = json.loads(output[: output.rindex("}") + 1])
    assert document["kind"] == "List"
    (deployment,) = [item for item in document["items"] if item["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    assert "mesh-proxy" in [c["name"] for c in spec["initContainers"]]


def test_graph_prints_any_format_on_stdout() -> None:
    code, output = run_cli(f"graph {BOOKSTORE} --format dot")
    assert code == 0 and output.splitlines()[1] == "digraph mesh {"  # after the signature


# --- progress --------------------------------------------------------------------------


def test_render_reports_progress_per_workload() -> None:
    seen: list[tuple[str, int, int]] = []
    spec = read_spec(ROOT / BOOKSTORE)
    state = ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC)))
    trust = state.trust(spec.settings.trust_domain)
    render(spec, trust, datetime.now(UTC), progress=lambda *report: seen.append(report))
    # One stage: each config is written out (and measured against the budget) as it is emitted.
    assert seen == [("emitting proxy configs", i, 6) for i in range(1, 7)]


def test_a_progress_bar_is_drawn_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    shown, piped = _Terminal(), io.StringIO()
    for stream in (shown, piped):
        with console.progress(stream) as hook:
            for done in range(1, 101):
                hook("emitting proxy configs", done, 100)
            hook("a short stage", 1, 2)
    assert "emitting proxy configs" in shown.getvalue()
    assert "a short stage" not in shown.getvalue()  # too short to be worth a bar
    assert piped.getvalue() == ""


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["render", BOOKSTORE], "the following arguments are required: -o/--output"),
        (["proxy-config", BOOKSTORE, "-o", "xml", "--workload", "a/b"], "invalid choice: 'xml'"),
        (["certs", "status", "k8s", "--renewal-window-days", "soon"], "expected a number of days"),
    ],
)
def test_a_command_line_mistake_is_one_paragraph_pointing_at_help(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one paragraph, no usage dump
    assert says in err and "--help` for its options and an example" in err


@pytest.mark.parametrize(
    ("command", "fix"),
    [
        ("certs status /no/such/dir", "check the path"),
        ("graph examples/bookstore -o /no/such/dir/mesh.dot", "check the path"),
        ("import /no/such/manifests -o /tmp/never", "check the path"),
    ],
)
def test_a_missing_path_is_an_error_with_a_fix(command: str, fix: str) -> None:
    code, output = run_cli(command)
    assert code == 2
    assert f"Fix: {fix}" in output and "No such file or directory" in output
    assert "Traceback" not in output


def test_inject_reports_broken_yaml_on_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "app.yaml"
    broken.write_text("kind: Deployment\n  metadata: x: y\n")
    code, output = run_cli(f"inject -f {broken} --mesh {BOOKSTORE} --ca-file {tmp_path}/ca")
    assert code == 2
    assert "[file-malformed]" in output and "at line 2, column" in output
    assert output.count("\n") == 2  # the count line and the problem


def test_a_closed_pipe_ends_quietly() -> None:
    reader = "import sys; sys.stdin.readline()"
    with subprocess.Popen(
        [sys.executable, "-m", "mesh_components", "graph", BOOKSTORE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    ) as writer:  # fmt: skip
        assert writer.stdout is not None
        subprocess.run([sys.executable, "-c", reader], stdin=writer.stdout, check=True)
        writer.stdout.close()
        _, err = writer.communicate(timeout=60)
    # The drawing is small enough to fit the pipe: either it ends well or quietly.
    assert writer.returncode in (0, cli.EXIT_BROKEN_PIPE)
    assert b"Traceback" not in err and b"Broken pipe" not in err


def test_a_broken_pipe_is_exit_141_without_a_word(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def closed(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_validate", closed)
    assert cli.main(["validate", BOOKSTORE]) == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_an_interrupt_says_nothing_was_half_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_compile", interrupted)
    assert cli.main(["compile", BOOKSTORE, "-o", "/tmp/never"]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err.startswith("error: interrupted") and "Traceback" not in err
