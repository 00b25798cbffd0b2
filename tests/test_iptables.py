"""The interception rules as data: goldens of the rendered rules, and the properties that matter.

Goldens live in tests/goldens_iptables/<case>.ipv4.rules and .ipv6.rules; regenerate them with
`pytest --update-goldens`, which also deletes stale ones. Nothing here runs iptables: the
namespace tests (test_iptables_netns.py) do.
"""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

import pytest
import yaml

from mesh_components import names
from mesh_components.emit.kubernetes import iptables
from mesh_components.emit.kubernetes.init_container import init_container, script
from mesh_components.emit.kubernetes.iptables import Rule, interception_for, ipv4_rules, ipv6_rules
from mesh_components.errors import MeshValidationError
from mesh_components.model.settings import (
    Interception,
    MeshSettings,
    ProxyPorts,
    ProxySettings,
)

GOLDENS = Path(__file__).parent / "goldens_iptables"
DEFAULT = MeshSettings("demo")
PROBES = (15901, 15902, 15904)
CUSTOM_PORTS = ProxyPorts(
    admin=16000,
    outbound=16001,
    inbound=16003,
    prometheus=16010,
    liveness_probe=16901,
    readiness_probe=16902,
    startup_probe=16903,
    health_check=16904,
)
CUSTOM = MeshSettings("custom", proxy=ProxySettings(uid=2102, ports=CUSTOM_PORTS))
EXCLUDING = Interception(
    outbound_port_exclusions=(5432, 6379),
    inbound_port_exclusions=(9090,),
    outbound_ip_range_exclusions=("10.96.0.0/12", "169.254.169.254/32"),
    outbound_ip_range_inclusions=("10.0.0.0/8", "192.168.0.0/16"),
)
CASES: dict[str, tuple[MeshSettings, Interception, tuple[int, ...]]] = {
    "defaults": (DEFAULT, Interception(), ()),
    "probes": (DEFAULT, Interception(), PROBES),
    "exclusions-and-inclusions": (DEFAULT, EXCLUDING, PROBES),
    "custom-uid-and-ports": (CUSTOM, Interception(outbound_port_exclusions=(3306,)), (16902,)),
}
INIT_CONTAINER_GOLDEN = "defaults.init-container.yaml"


def _rendered(case: str) -> dict[str, str]:
    settings, interception, probes = CASES[case]
    return {
        f"{case}.ipv4.rules": iptables.render(ipv4_rules(settings, interception, probes)),
        f"{case}.ipv6.rules": iptables.render(ipv6_rules(settings, interception, probes)),
    }


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings (the script) as `|` blocks, so the golden reads like the shell it is."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _literal)


def _init_container_yaml() -> str:
    container = init_container(DEFAULT, Interception(), ())
    return yaml.dump(container, Dumper=_LiteralDumper, sort_keys=True, width=100)


def _expected_files() -> dict[str, str]:
    files = {name: text for case in CASES for name, text in _rendered(case).items()}
    return {**files, INIT_CONTAINER_GOLDEN: _init_container_yaml()}


def _check_golden(name: str, actual: str, update: bool) -> None:
    path = GOLDENS / name
    if update:
        GOLDENS.mkdir(exist_ok=True)
        path.write_text(actual)
        return
    expected = path.read_text() if path.exists() else ""
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True)))
    assert actual == expected, f"{name} differs (pytest --update-goldens):\n{diff}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_rules_match_their_goldens(case: str, update_goldens: bool) -> None:
    for name, text in _rendered(case).items():
        _check_golden(name, text, update_goldens)


def test_the_init_container_matches_its_golden(update_goldens: bool) -> None:
    _check_golden(INIT_CONTAINER_GOLDEN, _init_container_yaml(), update_goldens)


def test_no_golden_is_stale(update_goldens: bool) -> None:
    stale = sorted(p.name for p in GOLDENS.glob("*") if p.name not in _expected_files())
    if update_goldens:
        for name in stale:
            (GOLDENS / name).unlink()
        return
    assert not stale, f"stale goldens (pytest --update-goldens deletes them): {stale}"


# The rules as data.


def _all_rule_sets() -> list[tuple[Rule, ...]]:
    return [build(*CASES[case]) for case in sorted(CASES) for build in (ipv4_rules, ipv6_rules)]


def _chain(rules: tuple[Rule, ...], chain: str) -> list[Rule]:
    return [rule for rule in rules if rule.chain == chain]


def _returned_ports(rules: tuple[Rule, ...], chain: str) -> set[int]:
    return {
        int(rule.args[rule.args.index("--dport") + 1])
        for rule in _chain(rules, chain)
        if "--dport" in rule.args and rule.target == "RETURN"
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_proxy_uid_exemption_precedes_every_outbound_redirect(case: str) -> None:
    settings = CASES[case][0]
    outbound = _chain(ipv4_rules(*CASES[case]), iptables.OUTBOUND)
    owner = ("-m", "owner", "--uid-owner", str(settings.proxy.uid))
    exemption = next(i for i, r in enumerate(outbound) if r.target == "RETURN" and _has(r, owner))
    redirects = [i for i, r in enumerate(outbound) if r.target == iptables.REDIRECT_OUTBOUND]
    assert redirects and exemption < min(redirects)
    # The only rule before it sends the proxy's calls to its own pod IP in, never out.
    for rule in outbound[:exemption]:
        assert rule.target == iptables.INBOUND and _has(rule, ("-o", "lo")) and _has(rule, owner)


def _has(rule: Rule, part: tuple[str, ...]) -> bool:
    args = rule.args
    return any(args[i : i + len(part)] == part for i in range(len(args)))


def test_probe_ports_are_exempt_only_when_the_workload_has_probes() -> None:
    without = _returned_ports(ipv4_rules(DEFAULT, Interception(), ()), iptables.INBOUND)
    with_probes = _returned_ports(ipv4_rules(DEFAULT, Interception(), PROBES), iptables.INBOUND)
    assert without == {15010}
    assert with_probes == {15010, *PROBES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_admin_port_is_never_exempt(case: str) -> None:
    settings = CASES[case][0]
    rules = ipv4_rules(*CASES[case])
    assert settings.proxy.ports.admin not in _returned_ports(rules, iptables.INBOUND)


def test_every_rule_says_why_in_one_line() -> None:
    for rules in _all_rule_sets():
        for rule in rules:
            assert rule.why.strip() and "\n" not in rule.why, rule


def test_udp_is_never_redirected() -> None:
    for case in CASES.values():
        assert all(_has(rule, ("-p", "tcp")) for rule in ipv4_rules(*case))


def test_inbound_exclusions_and_both_listeners_follow_the_settings() -> None:
    rules = ipv4_rules(CUSTOM, Interception(inbound_port_exclusions=(9090,)), ())
    assert _returned_ports(rules, iptables.INBOUND) == {16010, 9090}
    redirects = {r.chain: r.args[-1] for r in rules if r.target == "REDIRECT"}
    assert redirects == {iptables.REDIRECT_INBOUND: "16003", iptables.REDIRECT_OUTBOUND: "16001"}


def test_with_inclusions_only_the_included_ranges_jump_to_the_redirect() -> None:
    outbound = _chain(ipv4_rules(DEFAULT, EXCLUDING, ()), iptables.OUTBOUND)
    jumps = [rule for rule in outbound if rule.target == iptables.REDIRECT_OUTBOUND]
    assert [rule.args[rule.args.index("-d") + 1] for rule in jumps] == [
        "10.0.0.0/8",
        "192.168.0.0/16",
    ]
    first_jump = outbound.index(jumps[0])
    excluded = [rule for rule in outbound if _has(rule, ("-d", "10.96.0.0/12"))]
    assert excluded and outbound.index(excluded[0]) < first_jump


def test_tcp_dns_and_loopback_return_before_any_redirect() -> None:
    outbound = _chain(ipv4_rules(DEFAULT, Interception(), ()), iptables.OUTBOUND)
    redirect = next(i for i, r in enumerate(outbound) if r.target == iptables.REDIRECT_OUTBOUND)
    returns = outbound[:redirect]
    assert any(_has(r, ("--dport", "53")) and r.target == "RETURN" for r in returns)
    assert any(_has(r, ("-d", "127.0.0.0/8")) and r.target == "RETURN" for r in returns)


def test_ipv6_is_closed_for_everyone_but_loopback_and_neighbour_discovery() -> None:
    rules = ipv6_rules(*CASES["exclusions-and-inclusions"])
    assert {rule.table for rule in rules} == {iptables.FILTER}
    assert not any("--uid-owner" in rule.args for rule in rules)
    for chain in (iptables.IPV6_INPUT, iptables.IPV6_OUTPUT):
        accepted = [rule for rule in _chain(rules, chain) if rule.target == "ACCEPT"]
        assert {r.args[1] if r.args[0] in ("-i", "-o") else r.args[-3] for r in accepted} == {
            "lo",
            *iptables.NEIGHBOUR_DISCOVERY,
        }
        assert _chain(rules, chain)[-1].target == "DROP"


def test_render_declares_every_custom_chain_and_commits_each_table() -> None:
    text = iptables.render(ipv4_rules(DEFAULT, Interception(), ()))
    for chain in (iptables.INBOUND, iptables.REDIRECT_INBOUND, iptables.OUTBOUND):
        assert f":{chain} - [0:0]" in text
    assert text.startswith("*nat\n") and text.endswith("COMMIT\n")
    lines = text.splitlines()
    assert all(lines[i - 1].startswith("# ") for i, line in enumerate(lines) if line[:3] == "-A ")


def test_the_rules_do_not_depend_on_the_order_of_probe_ports() -> None:
    shuffled = ipv4_rules(DEFAULT, Interception(), (15904, 15901, 15902, 15901))
    assert shuffled == ipv4_rules(DEFAULT, Interception(), PROBES)


# Per-workload interception from annotations.


def test_annotations_are_merged_with_the_mesh_lists_sorted_and_without_repeats() -> None:
    mesh = Interception(
        outbound_port_exclusions=(6379,), outbound_ip_range_exclusions=("10.0.0.0/8",)
    )
    settings = MeshSettings("demo", proxy=ProxySettings(interception=mesh))
    result = interception_for(
        settings,
        {
            names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION: " 5432,6379 ,, 443 ",
            names.INBOUND_PORT_EXCLUSIONS_ANNOTATION: "9090",
            names.OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION: "9.0.0.0/8, 10.0.0.0/8, 169.254.169.254",
            names.OUTBOUND_IP_RANGE_INCLUSIONS_ANNOTATION: "",
        },
    )
    assert result == Interception(
        outbound_port_exclusions=(443, 5432, 6379),
        inbound_port_exclusions=(9090,),
        outbound_ip_range_exclusions=("9.0.0.0/8", "10.0.0.0/8", "169.254.169.254/32"),
        outbound_ip_range_inclusions=(),
    )


def test_without_annotations_the_mesh_lists_apply() -> None:
    mesh = Interception(inbound_port_exclusions=(8081, 8080))
    settings = MeshSettings("demo", proxy=ProxySettings(interception=mesh))
    assert interception_for(settings, {}) == Interception(inbound_port_exclusions=(8080, 8081))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION, "http"),
        (names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION, "0"),
        (names.INBOUND_PORT_EXCLUSIONS_ANNOTATION, "65536"),
        (names.INBOUND_PORT_EXCLUSIONS_ANNOTATION, "8000-8100"),
        (names.INBOUND_PORT_EXCLUSIONS_ANNOTATION, "-1"),
        (names.OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION, "10.0.0.0/33"),
        (names.OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION, "example.com"),
        (names.OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION, "10.1.2.3/8"),
        (names.OUTBOUND_IP_RANGE_INCLUSIONS_ANNOTATION, "fd00::/8"),
    ],
)
def test_a_bad_annotation_value_is_annotation_invalid_at_its_key(key: str, value: str) -> None:
    with pytest.raises(MeshValidationError) as raised:
        good = "443" if "port" in key else "10.0.0.0/8"
        interception_for(DEFAULT, {key: f"{good}, {value}"})
    (problem,) = raised.value.problems
    assert (problem.code, problem.path, problem.found) == ("annotation-invalid", key, repr(value))
    assert problem.expected and problem.fix


def test_every_bad_annotation_is_reported_at_once() -> None:
    annotations = {
        names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION: "x, y",
        names.OUTBOUND_IP_RANGE_INCLUSIONS_ANNOTATION: "nope",
    }
    with pytest.raises(MeshValidationError) as raised:
        interception_for(DEFAULT, annotations)
    paths = [problem.path for problem in raised.value.problems]
    assert sorted(paths) == sorted(
        [
            *[names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION] * 2,
            names.OUTBOUND_IP_RANGE_INCLUSIONS_ANNOTATION,
        ]
    )


def test_a_cidr_with_host_bits_gets_both_readings_as_the_fix() -> None:
    key = names.OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION
    with pytest.raises(MeshValidationError) as raised:
        interception_for(DEFAULT, {key: "10.1.2.3/8"})
    assert "'10.0.0.0/8'" in raised.value.problems[0].fix
    assert "'10.1.2.3/32'" in raised.value.problems[0].fix


# The init container.


def test_the_init_container_runs_root_with_only_net_admin_and_net_raw() -> None:
    container = init_container(DEFAULT, Interception(), ())
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": False,
        "runAsUser": 0,
    }
    assert container["resources"]["limits"] and container["resources"]["requests"]


def test_the_init_container_has_an_explicit_command_with_both_rule_sets() -> None:
    settings = MeshSettings("demo", proxy=ProxySettings(init_image="example.com/init:1"))
    container = init_container(settings, EXCLUDING, PROBES)
    assert (container["name"], container["image"]) == (names.INIT_CONTAINER, "example.com/init:1")
    shell, flag, body = container["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    assert body.startswith("set -eu\n")
    assert iptables.render(ipv4_rules(settings, EXCLUDING, PROBES)) in body
    assert iptables.render(ipv6_rules(settings, EXCLUDING, PROBES)) in body
    assert "iptables-restore <<'" in body and "ip6tables-restore <<'" in body


def test_the_init_script_is_valid_shell() -> None:
    body = script(DEFAULT, EXCLUDING, PROBES)
    argv = ["sh", "-n", "-c", body]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr


def test_the_init_container_is_deterministic() -> None:
    assert init_container(DEFAULT, EXCLUDING, PROBES) == init_container(DEFAULT, EXCLUDING, PROBES)


def test_the_init_script_stops_the_pod_when_its_image_lacks_a_tool(tmp_path: Path) -> None:
    """Run with a PATH that has no iptables tools: the script must exit non-zero and say why,
    never carry on with IPv6 (or IPv4) left open."""
    text = script(MeshSettings(name="m"), Interception(), ())
    env = {"PATH": str(tmp_path)}
    for tool in ("sh", "echo"):
        found = subprocess.run(
            ["sh", "-c", f"command -v {tool}"], capture_output=True, text=True, check=False
        )
        if found.stdout.strip().startswith("/"):
            (tmp_path / tool).symlink_to(found.stdout.strip())
    result = subprocess.run(
        ["/bin/sh", "-c", text], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode != 0
    assert "has no iptables-restore" in result.stderr
