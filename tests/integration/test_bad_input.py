"""Issue 14: every bad input to site.yml and release.yml fails before anything changes, and says so in words
the user can act on. One table; every row is a real ansible-playbook run against the test environment
(cluster provider `existing`: no minikube, no tool installs), and every row asserts the same things:

- the run fails, and changed nothing: no task reported a change, no object appeared or changed in the cluster,
  nothing was pushed to either registry, no image was built (and a failing build left no container behind);
- the final message names the variable the user set (the public kubedev_* name when there is one) and its
  value, says what is expected, and carries no template or Python error text;
- no secret given in the row appears anywhere in the output.

Each row differs from a run that works (test_release.py, test_site_playbook.py and the `control` row here) by
the one bad input it is named after."""

import base64
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Callable

import pytest
import yaml

from conftest import ROOT, VENV_BIN, copy_sample_app, existing_cluster_vars, free_port, wait_for

pytestmark = pytest.mark.integration

# Text that means a template or Python error leaked into a message.
INTERNAL = [
    "Traceback", "Error while evaluating", "object of type", "has no attribute", "NoneType", "Errno", "ConnectionPool",
    "urlopen", "<class", "_AnsibleTagged", "Task failed", "Module failed", "Finalization", "{{", "}}", "{%", "%}",
    "is undefined", "AnsibleUndefined", "\\x1b", "\x1b", "Exception", "http+docker", "HTTPHeaderDict", "argument_spec",
]
# Result keys that carry such text (Ansible adds "exception" to every failure, shown only with -vvv).
INTERNAL_KEYS = {"changed_when_result", "failed_when_result", "argument_spec_data", "argument_errors"}


class Spaced(str):
    """Expected text whose spacing may differ: docker_image splits each chunk of the build's output into
    lines, so a line the daemon sent in two chunks (ls writes its error in parts) reaches the message as two,
    joined by a space."""

# What the release rows roll out (or, rather, do not).
DEPLOYMENT = "web-deployment"
BEFORE_IMAGE = "hello-k8s:i14-before"


@dataclass
class Ctx:
    """What a row's variables and expectations may refer to; `namespace` is the one whose objects must not change."""

    tmp_path: object
    kubeconfig: str
    registry: str
    auth: dict
    base_image: str
    namespace: str
    release_namespace: str
    image_name: str
    marker: str
    core_v1: object
    rbac_v1: object
    secrets: list = field(default_factory=list)

    def app_dir(self, dockerfile=None, without_dockerfile=False):
        app = copy_sample_app(self.tmp_path / "app")
        if without_dockerfile:
            (app / "Dockerfile").unlink()
        if dockerfile is not None:
            (app / "Dockerfile").write_text(dockerfile)
        return str(app)

    def write(self, name, text):
        path = self.tmp_path / name
        path.write_text(text)
        return str(path)

    def kubeconfig_with(self, **cluster_changes):
        config = yaml.safe_load(open(self.kubeconfig))
        current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
        next(c for c in config["clusters"] if c["name"] == current["cluster"])["cluster"].update(cluster_changes)
        return self.write("kubeconfig", yaml.safe_dump(config))

    def service_account_kubeconfig(self, namespace, rules):
        """A kubeconfig for a new ServiceAccount of namespace bound to a Role with these rules only."""
        account = "i14-" + uuid.uuid4().hex[:8]
        self.core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
        self.rbac_v1.create_namespaced_role(namespace, {"metadata": {"name": account}, "rules": rules})
        self.rbac_v1.create_namespaced_role_binding(namespace, {
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})
        token = self.core_v1.create_namespaced_service_account_token(account, namespace, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600}}).status.token
        self.secrets.append(token)
        config = yaml.safe_load(open(self.kubeconfig))
        current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
        cluster = next(c for c in config["clusters"] if c["name"] == current["cluster"])
        return self.write("sa-kubeconfig", yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": account,
            "clusters": [cluster],
            "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account, "namespace": namespace}}],
            "users": [{"name": account, "user": {"token": token}}]}))


@dataclass
class Bad:
    id: str
    playbook: str                        # site or release
    extra: Callable[[Ctx], dict]         # the bad input, over the working base variables
    expect: Callable[[Ctx], list]        # what the final message must say
    env: Callable[[Ctx], dict] = lambda ctx: {}
    setup: Callable[[Ctx], None] = lambda ctx: None


def dead_docker_socket(ctx):
    """A unix socket nothing listens on: bound, never listened, closed (connect is refused)."""
    path = ctx.tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return {"DOCKER_HOST": f"unix://{path}"}


def own_namespace(ctx):
    ctx.core_v1.create_namespace({"metadata": {"name": ctx.namespace, "labels": {"kubedev-test": "true"}}})


# Everything the deploy role needs (roles/deploy/vars/main.yml) except creating and patching Deployments.
DEPLOY_RULES_BUT_DEPLOYMENTS = [
    {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": ["get", "create", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["get", "create", "patch"]},
]


def set_image_rules_without(verb):
    role = yaml.safe_load((ROOT / "docs" / "rbac" / "set_image-role.yml").read_text())
    return [dict(rule, verbs=[v for v in rule["verbs"] if v != verb]) for rule in role["rules"]]


def wrong_type_rows():
    """A wrong type for every list and dict variable of every role, read from the argument specs; every third
    row runs release.yml, the others site.yml."""
    rows = []
    for role in ("tools", "minikube", "image", "deploy"):
        options = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for name, option in sorted(options["argument_specs"]["main"]["options"].items()):
            if option.get("type") == "list":
                wrong, expected, got = {"not": "a list"}, "expected a list of", "got a dict"
            elif option.get("type") == "dict":
                wrong, expected, got = ["not", "a", "dict"], "expected a dict", "got a list"
            else:
                continue
            # release.yml checks only the roles it runs (kubedev__check_roles): never the tools role.
            rows.append(Bad(
                f"wrong-type-{name}", "release" if len(rows) % 3 == 2 and role != "tools" else "site",
                lambda ctx, name=name, wrong=wrong: {name: wrong},
                lambda ctx, name=name, wrong=wrong, expected=expected, got=got: [
                    f"{name}={json.dumps(wrong)}: {expected}", got]))
    return rows


ROWS = [
    # The registry
    Bad("registry-unreachable", "site", lambda ctx: {"kubedev_registry": f"127.0.0.1:{free_port()}/team"},
        lambda ctx: ["kubedev_registry=127.0.0.1:", "/team: no registry answers at 127.0.0.1:", "Connection refused",
                     "is it running"]),
    Bad("registry-unreachable", "release", lambda ctx: {"kubedev_registry": "registry.kubedev.invalid"},
        lambda ctx: ["kubedev_registry=registry.kubedev.invalid: no registry answers", "is this the address you meant"]),
    Bad("registry-refuses-credentials", "site",
        lambda ctx: {"kubedev_registry": ctx.auth["host"], "kubedev_registry_username": ctx.auth["username"],
                     "kubedev_registry_password": ctx.secrets[0]},
        lambda ctx: [f"kubedev_registry={ctx.auth['host']} refused the login of kubedev_registry_username={ctx.auth['username']}",
                     "401 Unauthorized", "check kubedev_registry_username and kubedev_registry_password"],
        setup=lambda ctx: ctx.secrets.append("wrong-" + uuid.uuid4().hex)),
    Bad("registry-wants-a-login", "release", lambda ctx: {"kubedev_registry": ctx.auth["host"]},
        lambda ctx: [f"kubedev_registry={ctx.auth['host']}: the registry wants a login",
                     "expected kubedev_registry_username and kubedev_registry_password"]),
    Bad("registry-malformed", "site", lambda ctx: {"kubedev_registry": "https://127.0.0.1:5000"},
        lambda ctx: ["kubedev_registry='https://127.0.0.1:5000' is not host[:port][/path]", "expected an address"]),
    # Names and labels
    Bad("namespace-invalid", "site", lambda ctx: {"kubedev_namespace": "UPPER_case"},
        lambda ctx: ["kubedev_namespace='UPPER_case': expected a DNS label"]),
    Bad("namespace-invalid", "release", lambda ctx: {"kubedev_namespace": "dev.team"},
        lambda ctx: ["kubedev_namespace='dev.team': expected a DNS label"]),
    Bad("deployment-name-invalid", "release", lambda ctx: {"kubedev_deployment_name": "Web_Deployment"},
        lambda ctx: ["kubedev_deployment_name='Web_Deployment': expected a DNS label"]),
    Bad("service-name-invalid", "site", lambda ctx: {"deploy_service_name": "web.service"},
        lambda ctx: ["deploy_service_name='web.service': expected a DNS label"]),
    Bad("image-name-invalid", "site", lambda ctx: {"image_name": "Hello_K8s"},
        lambda ctx: ["image_name='Hello_K8s': expected lowercase path components"]),
    Bad("label-invalid", "site", lambda ctx: {"deploy_app_label": "web pod!"},
        lambda ctx: ["deploy_app_label='web pod!': expected a label value"]),
    Bad("configmap-key-invalid", "site", lambda ctx: {"deploy_config_extra": {"MY KEY": "x"}},
        lambda ctx: ["deploy_config/deploy_config_extra key 'MY KEY': expected letters, digits"]),
    # Images and tags
    Bad("image-reference-invalid", "site",
        lambda ctx: {"kubedev_build": False, "kubedev_image": f"{ctx.registry}/hello-k8s:bad:tag"},
        lambda ctx: [f"kubedev_image='{ctx.registry}/hello-k8s:bad:tag' is not an image reference",
                     "Expected one like registry.example.com:5000/team/app:1.2.3"]),
    Bad("tag-invalid", "release", lambda ctx: {"kubedev_app_version": "1.0/beta"},
        lambda ctx: ["kubedev_app_version='1.0/beta' is not a Docker tag", "expected [A-Za-z0-9_]"]),
    Bad("base-image-invalid", "site", lambda ctx: {"kubedev_base_image": "Node:Latest"},
        lambda ctx: ["kubedev_base_image='Node:Latest' is not an image reference", "must be lowercase",
                     "Expected one like node:22-bookworm-slim"]),
    # The app
    Bad("app-dir-missing", "site", lambda ctx: {"kubedev_app_dir": str(ctx.tmp_path / "no-such-app")},
        lambda ctx: [f"kubedev_app_dir={ctx.tmp_path / 'no-such-app'}: no such directory on the target host",
                     "expected the directory of the app"]),
    Bad("dockerfile-missing", "release", lambda ctx: {"kubedev_app_dir": ctx.app_dir(without_dockerfile=True)},
        lambda ctx: [f"kubedev_app_dir={ctx.tmp_path / 'app'} has no Dockerfile", "expected the app directory"]),
    Bad("dockerfile-fails", "site",
        lambda ctx: {"kubedev_app_dir": ctx.app_dir(dockerfile=(
            "ARG BASE_IMAGE=scratch\nFROM ${BASE_IMAGE}\n"
            f"RUN echo {ctx.marker} && ls /no-such-{ctx.marker}\n"))},
        lambda ctx: [f"The build of kubedev_app_dir={ctx.tmp_path / 'app'} (Dockerfile) failed at Step 3/",
                     f": RUN echo {ctx.marker} && ls /no-such-{ctx.marker}:",
                     "returned a non-zero code: 2",
                     Spaced(f"Its output: {ctx.marker} ls: cannot access '/no-such-{ctx.marker}': No such file or directory"),
                     "Expected a Dockerfile that builds"]),
    # The cluster
    Bad("api-server-dead", "site",
        lambda ctx: {"kubedev_kubeconfig": ctx.kubeconfig_with(server=f"https://127.0.0.1:{ctx.marker_port}")},
        lambda ctx: [f"kubedev_kubeconfig={ctx.tmp_path / 'kubeconfig'}",
                     f"the Kubernetes API at https://127.0.0.1:{ctx.marker_port} is unreachable: connection refused",
                     "Expected the kubeconfig file and context of a running cluster"],
        setup=lambda ctx: setattr(ctx, "marker_port", free_port())),
    Bad("api-server-dead", "release",
        lambda ctx: {"kubedev_kubeconfig": ctx.kubeconfig_with(server="https://api.kubedev.invalid:6443")},
        lambda ctx: ["Cannot use the cluster of kubedev_kubeconfig=",
                     "the Kubernetes API at https://api.kubedev.invalid:6443 is unreachable: the host name does not resolve "
                     "(Name or service not known)",
                     "Expected the kubeconfig file and context of a running cluster"]),
    Bad("kubeconfig-not-yaml", "site",
        lambda ctx: {"kubedev_kubeconfig": ctx.write("kubeconfig", "clusters: [oops\n  server: https://x\n")},
        lambda ctx: [f"kubedev_kubeconfig={ctx.tmp_path / 'kubeconfig'}",
                     f"kubeconfig {ctx.tmp_path / 'kubeconfig'} is not valid YAML at line 2, column",
                     "expected ',' or ']', but got ':'"]),
    Bad("kubeconfig-missing", "release", lambda ctx: {"kubedev_kubeconfig": str(ctx.tmp_path / "no-such-kubeconfig")},
        lambda ctx: [f"kubedev_kubeconfig={ctx.tmp_path / 'no-such-kubeconfig'}",
                     f"kubeconfig {ctx.tmp_path / 'no-such-kubeconfig'} does not exist"]),
    Bad("kubeconfig-not-a-kubeconfig", "site", lambda ctx: {"kubedev_kubeconfig": ctx.write("kubeconfig", "a: 1\n")},
        lambda ctx: [f"kubedev_kubeconfig={ctx.tmp_path / 'kubeconfig'}",
                     "the top level sets a, which kubedev.devloop does not support"]),
    Bad("context-unknown", "site", lambda ctx: {"kubedev_context": "no-such-context"},
        lambda ctx: ["kubedev_context=no-such-context: ",
                     'has no context "no-such-context" (contexts: '
                     + ", ".join(c["name"] for c in yaml.safe_load(open(ctx.kubeconfig))["contexts"]) + ")"]),
    Bad("permission-missing", "site",
        lambda ctx: {"kubedev_kubeconfig": ctx.service_account_kubeconfig(ctx.namespace, DEPLOY_RULES_BUT_DEPLOYMENTS),
                     "deploy_namespace_manage": False},
        lambda ctx: [f"kubedev_kubeconfig={ctx.tmp_path / 'sa-kubeconfig'}",
                     f"its user may not create deployments.apps, patch deployments.apps in namespace {ctx.namespace}",
                     "Expected an identity that may"],
        setup=own_namespace),
    Bad("permission-missing-for-the-namespace", "site",
        lambda ctx: {"kubedev_kubeconfig": ctx.service_account_kubeconfig(ctx.namespace, DEPLOY_RULES_BUT_DEPLOYMENTS)},
        lambda ctx: ["may not create deployments.apps, patch deployments.apps, get namespaces, create namespaces, patch namespaces",
                     "a ClusterRole for namespaces", "or set deploy_namespace_manage=false when the namespace is managed elsewhere"],
        setup=own_namespace),
    Bad("permission-missing", "release",
        lambda ctx: {"kubedev_kubeconfig": ctx.service_account_kubeconfig(ctx.namespace, set_image_rules_without("patch"))},
        lambda ctx: [f"kubedev_kubeconfig={ctx.tmp_path / 'sa-kubeconfig'}",
                     f"its user may not patch deployments.apps in namespace {ctx.namespace}",
                     "docs/rbac/set_image-role.yml"]),
    Bad("namespace-without-the-deployment", "release", lambda ctx: {"kubedev_namespace": "i14-" + ctx.marker},
        lambda ctx: [f"kubedev_deployment_name={DEPLOYMENT}: no such Deployment in namespace i14-{ctx.marker}",
                     "run site.yml first"]),
    Bad("container-unknown", "release", lambda ctx: {"kubedev_container_name": "app"},
        lambda ctx: [f"kubedev_container_name=app: Deployment {DEPLOYMENT} has no such container. Expected one of: web."]),
    # The Docker engine
    Bad("docker-not-running", "site", lambda ctx: {}, lambda ctx: [
        f"The Docker engine at DOCKER_HOST=unix://{ctx.tmp_path / 'docker.sock'} does not answer (Connection refused)",
        "Expected a running engine"], env=dead_docker_socket),
    Bad("docker-not-running", "release", lambda ctx: {}, lambda ctx: [
        f"DOCKER_HOST=unix://{ctx.tmp_path / 'docker.sock'} does not answer"], env=dead_docker_socket),
    # Choices, numbers, switches
    Bad("provider-unknown", "site", lambda ctx: {"kubedev_cluster_provider": "kind"},
        lambda ctx: ['kubedev_cluster_provider="kind": expected one of: minikube, existing.']),
    Bad("stage-switch-not-a-boolean", "release", lambda ctx: {"kubedev_build": "maybe"},
        lambda ctx: ['kubedev_build="maybe": expected true or false.']),
    Bad("wait-timeout-not-a-number", "release", lambda ctx: {"kubedev_wait_timeout": "soon"},
        lambda ctx: ['kubedev_wait_timeout="soon": expected a whole number, got a string.']),
    Bad("replicas-negative", "site", lambda ctx: {"deploy_replicas": -1},
        lambda ctx: ["deploy_replicas=-1: expected a number of pods, 0 or more."]),
    Bad("tolerations-not-dicts", "site", lambda ctx: {"deploy_tolerations": ["oops"]},
        lambda ctx: ['deploy_tolerations=["oops"]: expected a list of dicts', "got a list with items that are not dicts"]),
    *wrong_type_rows(),
]


@pytest.fixture(scope="module")
def release_namespace(core_v1, apps_v1, registry):
    """A namespace with the Deployment release.yml rolls out, as site.yml would have left it."""
    from kubernetes import client

    name = "t-bad-input-release-" + uuid.uuid4().hex[:6]
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"kubedev-test": "true"})))
    labels = {"app": "web-pod"}
    apps_v1.create_namespaced_deployment(name, {
        "metadata": {"name": DEPLOYMENT},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "web", "image": f"{registry}/{BEFORE_IMAGE}"}]}}}})
    wait_for("the release Deployment to be available",
             lambda: (apps_v1.read_namespaced_deployment(DEPLOYMENT, name).status.available_replicas or 0) >= 1)
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


def run(playbook, extra_vars, env):
    cmd = [str(VENV_BIN / "ansible-playbook"), str(ROOT / "playbooks" / f"{playbook}.yml"), "-e", json.dumps(extra_vars)]
    full_env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    full_env.update(env)
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True)


def final_failure(report):
    """The result of the last task that failed (the one that ended the run)."""
    failed = [task["hosts"]["localhost"] for play in report["plays"] for task in play["tasks"]
              if task["hosts"].get("localhost", {}).get("failed")]
    assert failed, json.dumps(report)[-3000:]
    result = failed[-1]
    if "results" in result:   # a loop: the items that failed say why
        result = dict(result, msg=" ".join(item.get("msg", "") for item in result["results"] if item.get("failed")))
    return result


def api_answers(core_v1):
    """Other tests restart kube-apiserver (scripts/testenv restart); wait until it answers again."""
    import urllib3

    def answers():
        try:
            core_v1.get_api_resources(_request_timeout=5)
            return True
        except (urllib3.exceptions.HTTPError, OSError):
            return False

    wait_for("the API server to answer", answers, timeout=120, interval=1)


def cluster_state(core_v1, apps_v1, batch_v1, namespace):
    """What is in namespace (None when it does not exist): names with versions of what the playbooks touch."""
    from kubernetes.client.exceptions import ApiException

    try:
        core_v1.read_namespace(namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    except ValueError:   # not a valid name: cannot exist
        return None
    return {
        "configmaps": {o.metadata.name: o.metadata.resource_version for o in core_v1.list_namespaced_config_map(namespace).items},
        "services": {o.metadata.name: o.metadata.resource_version for o in core_v1.list_namespaced_service(namespace).items},
        "deployments": {o.metadata.name: (o.metadata.generation, [c.image for c in o.spec.template.spec.containers])
                        for o in apps_v1.list_namespaced_deployment(namespace).items},
        "cronjobs": sorted(o.metadata.name for o in batch_v1.list_namespaced_cron_job(namespace).items),
    }


def pushed(host, name, auth=None):
    """The tags of repository name in the registry at host (where the rows' base variables push)."""
    request = urllib.request.Request(f"http://{host}/v2/{name}/tags/list")
    if auth:
        token = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response).get("tags") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:   # NAME_UNKNOWN: never pushed
            return []
        raise


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.playbook}-{row.id}" for row in ROWS])
def test_bad_input_fails_before_any_change_and_says_why(
        row, tmp_path, kubeconfig, registry, auth_registry, base_image, release_namespace,
        core_v1, apps_v1, batch_v1, rbac_v1, docker_client):
    marker = uuid.uuid4().hex[:10]
    namespace = release_namespace if row.playbook == "release" else "t-bad-input-" + marker
    ctx = Ctx(tmp_path, kubeconfig, registry, auth_registry, base_image, namespace, release_namespace,
              "i14-" + marker, marker, core_v1, rbac_v1)
    row.setup(ctx)
    play_vars = existing_cluster_vars(kubeconfig, namespace, registry, base_image, image_name=ctx.image_name)
    play_vars.update(row.extra(ctx))
    env = row.env(ctx)
    watched = {namespace, release_namespace, play_vars["kubedev_namespace"]}
    api_answers(core_v1)
    before = {ns: cluster_state(core_v1, apps_v1, batch_v1, ns) for ns in watched}
    try:
        proc = run(row.playbook, play_vars, env)
        output = proc.stdout + proc.stderr

        # It failed, and no task changed anything.
        assert proc.returncode != 0, output[-5000:]
        report = json.loads(proc.stdout)
        assert report["stats"]["localhost"]["changed"] == 0, output[-5000:]
        result = final_failure(report)
        message = " ".join(str(result.get("msg", "")).split())
        print(f"{row.playbook}-{row.id}: {message}")   # the table of messages, with pytest -s or -rP

        # The message says what the user set and what is expected, in words.
        for text in row.expect(ctx):
            if isinstance(text, Spaced):
                assert "".join(text.split()) in "".join(message.split()), f"{text!r} not in {message!r}"
            else:
                assert " ".join(text.split()) in message, f"{text!r} not in {message!r}"
        assert "expected" in message.lower(), message
        leaked = [text for text in INTERNAL if text in message] + sorted(INTERNAL_KEYS & set(result))
        assert not leaked, f"{leaked} in {json.dumps(result)[:3000]}"
        for secret in ctx.secrets + [auth_registry["password"]]:
            assert secret not in output

        # Nothing changed: cluster, registries, Docker.
        api_answers(core_v1)
        after = {ns: cluster_state(core_v1, apps_v1, batch_v1, ns) for ns in watched}
        assert after == before
        assert pushed(registry, ctx.image_name) == []
        assert pushed(auth_registry["host"], ctx.image_name, auth_registry) == []
        assert [tag for image in docker_client.images.list() for tag in image.tags if ctx.image_name in tag] == []
        left = [c.name for c in docker_client.containers.list(all=True)
                if marker in json.dumps(c.attrs.get("Config", {}).get("Cmd") or [])]
        assert left == [], f"containers of the failed build left behind: {left}"
    finally:
        if namespace not in (release_namespace,) and before.get(namespace) is not None:
            core_v1.delete_namespace(namespace, propagation_policy="Background")


def test_control_release_with_the_base_variables_works(
        tmp_path, kubeconfig, registry, base_image, release_namespace, apps_v1):
    """The rows' base variables and fixture are good: the same release without a bad input rolls out."""
    image = f"{registry}/hello-k8s:i14-control-{uuid.uuid4().hex[:8]}"
    play_vars = existing_cluster_vars(kubeconfig, release_namespace, registry, base_image,
                                      kubedev_build=False, kubedev_image=image)
    proc = run("release", play_vars, {})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    deployment = apps_v1.read_namespaced_deployment(DEPLOYMENT, release_namespace)
    assert [c.image for c in deployment.spec.template.spec.containers] == [image]


def test_a_role_called_directly_names_its_own_variables(tmp_path, kubeconfig):
    """The same dead API server as the rows above, through the minikube role itself: its own names, not kubedev_*."""
    config = yaml.safe_load(open(kubeconfig))
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    port = free_port()
    next(c for c in config["clusters"] if c["name"] == current["cluster"])["cluster"]["server"] = f"https://127.0.0.1:{port}"
    dead = tmp_path / "kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    playbook = tmp_path / "minikube.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "The minikube role on its own", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Include it", "ansible.builtin.include_role": {"name": "kubedev.devloop.minikube"},
                   "vars": {"minikube_cluster_provider": "existing", "minikube_kubeconfig": str(dead)}}]}]))
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))
    assert proc.returncode != 0
    message = " ".join(final_failure(json.loads(proc.stdout))["msg"].split())
    assert f"Cannot use the cluster of minikube_kubeconfig={dead}, minikube_context=(unset: its current context)" in message
    assert f"the Kubernetes API at https://127.0.0.1:{port} is unreachable: connection refused" in message
    assert "or minikube_cluster_provider=minikube to start one" in message
    assert "kubedev_" not in message
