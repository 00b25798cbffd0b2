"""The recording engine: small Pulumi programs run in-process, asserted on awaited values."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from mesh_components import cli
from mesh_components import recording as recording_api
from mesh_components.errors import MeshValidationError
from mesh_components.recording import ProgramError, Unknown, record
from mesh_components.recording.command import outputs_text
from mesh_components.recording.manifests import kubernetes_objects, manifest_tree, plain_object
from tests.recording_projects import READER, WEB, project

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"


def test_the_public_surface_is_sorted_and_importable() -> None:
    assert recording_api.__all__ == sorted(recording_api.__all__)
    assert all(hasattr(recording_api, name) for name in recording_api.__all__)


def test_objects_are_auto_named_namespaced_and_given_cluster_ips(tmp_path: Path) -> None:
    recording = record(project(tmp_path, WEB))
    namespace = recording.get(NAMESPACE, "web").outputs.values["metadata"]["name"]
    assert namespace.startswith("web-") and len(namespace) == len("web-") + 8
    deployment = recording.get(DEPLOYMENT, "web")
    assert deployment.inputs.values["spec"]["replicas"] == 1  # an int, not the wire's 1.0
    assert deployment.outputs.values["metadata"]["namespace"] == namespace  # an Output, awaited
    assert deployment.outputs.values["metadata"]["annotations"] == {"pulumi.com/autonamed": "true"}
    settings = recording.get(CONFIG_MAP, "settings")
    assert settings.outputs.values["metadata"] == {"name": "settings", "namespace": "default"}
    assert settings.id == "default/settings"
    service = recording.get(SERVICE, "web").outputs.values
    assert service["spec"]["clusterIP"].startswith("10.")
    assert service["spec"]["clusterIPs"] == [service["spec"]["clusterIP"]]
    assert "clusterIPs" not in recording.get(SERVICE, "web-pods").outputs.values["spec"]
    exports = recording.exports.values
    assert exports["clusterIP"] == service["spec"]["clusterIP"]  # what the program saw
    assert exports["serviceId"] == f"{namespace}/{service['metadata']['name']}"
    assert exports["stackAndProject"] == "dev/demo"
    assert exports["dryRun"] is False
    assert (
        recording.get(DEPLOYMENT, "web").parent
        == "urn:pulumi:dev::demo::pulumi:pulumi:Stack::demo-dev"
    )


def test_two_renders_are_byte_identical_and_names_depend_on_the_stack(tmp_path: Path) -> None:
    directory = project(tmp_path, WEB)
    first, second = record(directory), record(directory)
    assert first == second
    assert manifest_tree(kubernetes_objects(first)) == manifest_tree(kubernetes_objects(second))
    assert outputs_text(first) == outputs_text(second)
    other = record(directory, stack="prod")
    name = other.get(NAMESPACE, "web").outputs.values["metadata"]["name"]
    assert name != first.get(NAMESPACE, "web").outputs.values["metadata"]["name"]


def test_config_comes_from_pulumi_yaml_then_the_stack_file_then_overrides(tmp_path: Path) -> None:
    program = """
    import pulumi
    config = pulumi.Config()
    pulumi.export("greeting", config.get("greeting"))
    pulumi.export("replicas", config.get_int("replicas"))
    pulumi.export("limits", config.get_object("limits"))
    pulumi.export("region", pulumi.Config("aws").get("region"))
    pulumi.export("level", config.get("level"))
    """
    stacks = {"dev": {"demo:replicas": 2, "limits": {"cpu": "1"}, "aws:region": "eu-west-1",
                      "greeting": "from the stack"}}  # fmt: skip
    defaults = {"greeting": {"type": "string", "default": "default"}, "level": "info"}
    directory = project(tmp_path, program, stacks=stacks, project_config=defaults)
    exports = record(directory, config={"greeting": "from the flag"}).exports.values
    assert exports == {
        "greeting": "from the flag",
        "replicas": 2,
        "limits": {"cpu": "1"},
        "region": "eu-west-1",
        "level": "info",
    }
    assert record(directory).exports.values["greeting"] == "from the stack"


def test_reading_a_secure_value_names_the_key_and_the_flag(tmp_path: Path) -> None:
    program = """
    import pulumi
    pulumi.export("token", pulumi.Config().require_secret("token"))
    """
    stacks = {"dev": {"demo:token": {"secure": "v1:AAAA"}, "demo:unused": {"secure": "v1:BB"}}}
    directory = project(tmp_path, program, stacks=stacks)
    with pytest.raises(MeshValidationError) as raised:
        record(directory)
    assert raised.value.codes == ("config-secure",)
    assert "--config token=VALUE" in str(raised.value)
    assert "unused" not in str(raised.value)  # only what the program read
    recording = record(directory, config={"token": "s3cret"})
    assert recording.exports.values == {"token": "s3cret"}
    assert recording.exports.secret_names() == ("token",)


def test_a_secret_from_config_stays_secret_in_the_object_and_its_file(tmp_path: Path) -> None:
    program = """
    import pulumi
    import pulumi_kubernetes as k8s
    password = pulumi.Config().require_secret("password")
    string_data = {"password": password, "user": "app"}
    k8s.core.v1.Secret("db", metadata={"name": "db"}, string_data=string_data)
    dsn = password.apply(lambda p: f"db://{p}")
    k8s.core.v1.ConfigMap("leaky", metadata={"name": "leaky"}, data={"dsn": dsn})
    """
    recording = record(project(tmp_path, program), config={"password": "hunter2"})
    secret = recording.get(SECRET, "db")
    # The SDK sends the whole map holding a secret Output as one secret: that is what the
    # engine sees, and what a recording keeps.
    assert secret.inputs.secrets == {("stringData",)}
    assert secret.inputs.is_secret(("stringData", "password"))
    assert secret.inputs.values["stringData"] == {"password": "hunter2", "user": "app"}
    assert secret.outputs.is_secret(("stringData", "user"))  # the provider marks all of it
    leaky = recording.get(CONFIG_MAP, "leaky")
    assert leaky.inputs.secrets == {("data", "dsn")}  # a plain map: exactly its secret key
    files = manifest_tree(kubernetes_objects(recording))
    assert files["default/000-secret-db.yaml"].startswith("# SECRET:")
    assert files["default/001-configmap-leaky.yaml"].startswith("# SECRET: data.dsn came from")


def test_a_stack_reference_reads_its_file_and_keeps_secret_outputs_secret(tmp_path: Path) -> None:
    program = """
    import pulumi
    platform = pulumi.StackReference("acme/platform/dev")
    pulumi.export("mesh", platform.require_output("mesh"))
    pulumi.export("ca", platform.require_output("ca"))
    pulumi.export("missing", platform.get_output("nope"))
    """
    outputs = tmp_path / "platform.json"
    document = {"outputs": {"mesh": "shop", "ca": {"pem": "x"}}, "secretOutputNames": ["ca"]}
    outputs.write_text(json.dumps(document))
    directory = project(tmp_path, program)
    recording = record(directory, stack_references={"acme/platform/dev": outputs})
    assert recording.exports.values == {"mesh": "shop", "ca": {"pem": "x"}}
    assert recording.exports.secret_names() == ("ca",)
    assert json.loads(outputs_text(recording)) == {
        "outputs": {"ca": {"pem": "x"}, "mesh": "shop"},
        "secretOutputNames": ["ca"],
    }


def test_a_missing_stack_reference_names_the_stack_and_the_flag(tmp_path: Path) -> None:
    program = """
    import pulumi
    pulumi.export("mesh", pulumi.StackReference("acme/platform/dev").require_output("mesh"))
    """
    with pytest.raises(MeshValidationError) as raised:
        record(project(tmp_path, program))
    assert raised.value.codes == ("stack-reference-missing",)
    assert "--stack-reference acme/platform/dev=FILE" in str(raised.value)


def test_a_redacted_stack_outputs_file_is_refused(tmp_path: Path) -> None:
    outputs = tmp_path / "platform.yaml"
    outputs.write_text("outputs:\n  ca: '[secret]'\nsecretOutputNames: [ca, gone]\n")
    with pytest.raises(MeshValidationError) as raised:
        record(project(tmp_path, "pass\n"), stack_references={"p": outputs})
    assert raised.value.codes == ("stack-outputs-redacted", "stack-outputs-secrets")


def test_a_null_stack_output_is_a_problem_not_a_bare_key_error(tmp_path: Path) -> None:
    """Pulumi's SDK drops a null property, so the program's `require_output` would raise a
    KeyError that names nothing the user can fix."""
    from google.protobuf import struct_pb2  # noqa: PLC0415
    from pulumi.runtime import rpc  # noqa: PLC0415

    given = struct_pb2.Struct()
    given.update({"declarations": None, "ca": "x"})
    assert rpc.deserialize_properties(given) == {"ca": "x"}  # the reason for the problem
    outputs = tmp_path / "platform.yaml"
    outputs.write_text("outputs:\n  declarations: null\n  ca: x\n")
    with pytest.raises(MeshValidationError) as raised:
        record(project(tmp_path, "pass\n"), stack_references={"p": outputs})
    assert raised.value.codes == ("stack-outputs-null",)
    assert raised.value.problems[0].path.endswith("platform.yaml: outputs.declarations")


def test_only_python_projects_are_recorded(tmp_path: Path) -> None:
    directory = tmp_path / "yaml"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text("name: y\nruntime: yaml\nresources: {}\n")
    with pytest.raises(MeshValidationError) as raised:
        record(directory)
    assert raised.value.codes == ("project-runtime",)


@pytest.mark.parametrize(
    ("main", "found"),
    [
        ("../ca.secret.yaml", "../ca.secret.yaml"),
        ("/usr/lib/python3/dist-packages/nothing.py", "/usr/lib/python3/dist-packages/nothing.py"),
        ("notes.txt", "a file that is not a .py program"),
    ],
)
def test_main_must_name_a_python_program_inside_the_project(
    tmp_path: Path, main: str, found: str
) -> None:
    """Else `main:` runs any file as Python: a CA file's seed came back in a NameError."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "notes.txt").write_text("")
    (tmp_path / "ca.secret.yaml").write_text("seed: " + "ab" * 32 + "\n")
    (directory / "Pulumi.yaml").write_text(f"name: p\nruntime: python\nmain: {main}\n")
    with pytest.raises(MeshValidationError) as raised:
        record(directory)
    (problem,) = raised.value.problems
    assert (problem.code, problem.found) == ("project-program", found)


def test_a_main_py_that_links_out_of_the_project_is_not_run(tmp_path: Path) -> None:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    outside = tmp_path / "server.py"
    outside.write_text("raise SystemExit('ran')\n")
    (directory / "__main__.py").symlink_to(outside)
    with pytest.raises(MeshValidationError) as raised:
        record(directory)
    assert raised.value.codes == ("project-program",)


def test_a_failure_without_frames_of_the_program_shows_no_traceback(tmp_path: Path) -> None:
    program = """
    import json
    import pulumi
    pulumi.Output.from_input(1).apply(json.loads)  # raised by the SDK's callback, in json
    """
    with pytest.raises(ProgramError) as raised:
        record(project(tmp_path, program))
    assert "TypeError" in raised.value.message and raised.value.trace == ""


def test_pulumi_run_is_awaited_after_the_module_code(tmp_path: Path) -> None:
    program = """
    import pulumi
    import pulumi_kubernetes as k8s
    order = []

    async def main():
        order.append("entrypoint")
        k8s.core.v1.ConfigMap("late", metadata={"name": "late"}, data={"order": ",".join(order)})
        return {"order": ",".join(order)}

    pulumi.run(main)
    order.append("module")
    pulumi.export("early", "yes")
    """
    recording = record(project(tmp_path, program))
    assert recording.exports.values == {"early": "yes", "order": "module,entrypoint"}
    assert recording.get(CONFIG_MAP, "late").inputs.values["data"] == {"order": "module,entrypoint"}


def test_a_legacy_stack_transformation_rewrites_what_is_recorded(tmp_path: Path) -> None:
    program = """
    import pulumi
    import pulumi_kubernetes as k8s

    def label(args):
        if args.type_ == "kubernetes:core/v1:ConfigMap":
            args.props["metadata"] = {**(args.props.get("metadata") or {}), "labels": {"team": "a"}}
            return pulumi.ResourceTransformationResult(args.props, args.opts)
        return None

    pulumi.runtime.register_stack_transformation(label)
    k8s.core.v1.ConfigMap("c", metadata={"name": "c"}, data={"k": "v"})
    """
    recording = record(project(tmp_path, program))
    metadata = recording.get(CONFIG_MAP, "c").inputs.values["metadata"]
    assert metadata == {"name": "c", "labels": {"team": "a"}}


def test_a_resource_transform_is_a_problem_not_silently_skipped(tmp_path: Path) -> None:
    program = """
    import pulumi
    import pulumi_kubernetes as k8s
    pulumi.runtime.register_resource_transform(lambda args: None)
    k8s.core.v1.ConfigMap("c", data={"k": "v"})
    """
    with pytest.raises(MeshValidationError) as raised:
        record(project(tmp_path, program))
    assert raised.value.codes == ("transform-not-run",)


def test_preview_knows_names_but_not_cluster_ips_or_ids(tmp_path: Path) -> None:
    recording = record(project(tmp_path, WEB), preview=True)
    assert recording.preview and recording.exports.values["dryRun"] is True
    service = recording.get(SERVICE, "web")
    assert service.outputs.values["spec"]["clusterIP"] is Unknown()  # the one UNKNOWN
    assert ("spec", "clusterIP") in service.outputs.unknowns
    assert service.id is None
    assert recording.exports.unknowns == {("clusterIP",), ("serviceId",)}
    updated = record(project(tmp_path / "again", WEB))
    assert (
        service.outputs.values["metadata"] == updated.get(SERVICE, "web").outputs.values["metadata"]
    )
    assert json.loads(outputs_text(recording))["unknownOutputNames"] == ["clusterIP", "serviceId"]


def test_a_run_error_is_the_programs_message_without_a_traceback(tmp_path: Path) -> None:
    program = "import pulumi\nraise pulumi.RunError('the mesh needs a CA')\n"
    with pytest.raises(ProgramError) as raised:
        record(project(tmp_path, program))
    assert str(raised.value) == "the program failed: the mesh needs a CA"


def test_any_other_exception_keeps_the_programs_own_frames(tmp_path: Path) -> None:
    program = "import helper\nhelper.boom()\n"
    helper = "def boom():\n    raise ValueError('bad weight')\n"
    with pytest.raises(ProgramError) as raised:
        record(project(tmp_path, program, files={"helper.py": helper}))
    assert raised.value.message == "ValueError: bad weight"
    assert "helper.py" in raised.value.trace and "recording" not in raised.value.trace


def test_missing_required_config_is_a_problem_with_the_flag(tmp_path: Path) -> None:
    program = "import pulumi\npulumi.Config().require('weight')\n"
    with pytest.raises(MeshValidationError) as raised:
        record(project(tmp_path, program))
    assert raised.value.codes == ("config-missing",)
    assert "--config weight=VALUE" in str(raised.value)


def test_a_chart_or_yaml_file_is_refused_clearly(tmp_path: Path) -> None:
    program = """
    import pulumi_kubernetes as k8s
    k8s.yaml.ConfigFile("app", file="app.yaml")
    """
    files = {"app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}
    with pytest.raises(MeshValidationError) as raised:
        record(project(tmp_path, program, files=files))
    assert "resource-unsupported" in raised.value.codes


def test_providers_namespace_and_cluster_scoped_kinds(tmp_path: Path) -> None:
    program = """
    import pulumi
    import pulumi_kubernetes as k8s
    READER = RULES
    team = k8s.Provider("team", namespace="team")
    k8s.core.v1.ConfigMap("c", metadata={"name": "c"}, opts=pulumi.ResourceOptions(provider=team))
    k8s.rbac.v1.ClusterRole("reader", metadata={"name": "reader"}, rules=READER)
    fixed = {"clusterIP": "10.96.7.7", "ports": [{"port": 80}]}
    k8s.core.v1.Service("fixed", metadata={"name": "fixed"}, spec=fixed)
    """
    recording = record(project(tmp_path, program.replace("RULES", repr(READER))))
    assert recording.get(CONFIG_MAP, "c").outputs.values["metadata"]["namespace"] == "team"
    role = recording.get("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "reader")
    assert "namespace" not in role.outputs.values["metadata"]
    assert role.id == "reader"
    fixed = recording.get(SERVICE, "fixed").outputs.values["spec"]
    assert fixed["clusterIP"] == "10.96.7.7" and fixed["clusterIPs"] == ["10.96.7.7"]
    files = manifest_tree(kubernetes_objects(recording))
    assert sorted(files) == [
        "01-cluster/000-clusterrole-reader.yaml",
        "default/001-service-fixed.yaml",
        "team/000-configmap-c.yaml",
    ]


def test_every_object_is_valid_for_kubernetes_1_31(tmp_path: Path) -> None:
    program = (
        WEB
        + """
k8s.core.v1.Secret("creds", string_data={"password": pulumi.Output.secret("x")})
k8s.rbac.v1.ClusterRole("reader", rules=READER)
""".replace("READER", repr(READER))
    )
    objects = kubernetes_objects(record(project(tmp_path, program)))
    assert [o.kind for o in objects] == [
        "Namespace", "Secret", "ConfigMap", "ClusterRole", "Service", "Service", "Deployment",
    ]  # fmt: skip
    for obj in objects:
        kubernetes_validate.validate(plain_object(obj), "1.31", strict=True)


def test_a_run_leaves_no_trace_in_the_process(tmp_path: Path) -> None:
    helper = "VALUE = {!r}\n"
    program = "import pulumi, helper\npulumi.export('value', helper.VALUE)\n"
    first = project(tmp_path, program, name="one", files={"helper.py": helper.format("one")})
    second = project(tmp_path, program, name="two", files={"helper.py": helper.format("two")})
    cwd, path = os.getcwd(), list(sys.path)
    assert record(first).exports.values == {"value": "one"}
    assert record(second).exports.values == {"value": "two"}
    assert "helper" not in sys.modules
    assert (os.getcwd(), sys.path) == (cwd, path)


def test_render_writes_manifests_and_private_stack_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = WEB + 'pulumi.export("token", pulumi.Config().require_secret("token"))\n'
    directory = project(tmp_path, program)
    out = tmp_path / "out"
    args = ["render", str(directory), "-o", str(out), "--config", "token=s3cret", "--stack", "qa"]
    assert cli.main(args) == 0
    printed = capsys.readouterr()
    assert "s3cret" not in printed.out + printed.err
    assert "6 stack outputs (1 secret)" in printed.out
    outputs = out / "stack-outputs"
    assert stat.S_IMODE(outputs.stat().st_mode) == 0o600
    assert json.loads(outputs.read_text())["secretOutputNames"] == ["token"]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert len(written) == 5 and "00-namespaces.yaml" in written


def test_render_reports_user_mistakes_with_exit_code_2_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = project(tmp_path, "import pulumi\npulumi.Config().require_secret('ca')\n",
                        stacks={"dev": {"demo:ca": {"secure": "v1:x"}}})  # fmt: skip
    assert cli.main(["render", str(directory), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "[config-secure]" in err and "--config ca=VALUE" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    spec_with_flag = ["render", str(tmp_path / "mesh.yaml"), "-o", str(tmp_path / "o"), "--preview"]
    assert cli.main(spec_with_flag) == 2
    assert "[flag-needs-project]" in capsys.readouterr().err
