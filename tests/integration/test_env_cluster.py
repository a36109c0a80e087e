"""The cluster half of the test environment (scripts/testenv): a real control plane (etcd,
kube-apiserver, controller-manager, scheduler) whose nodes kwok plays. These tests pin down what the
rest of the suite relies on: Deployments roll out, the simulated failures look like a kubelet's
(ErrImagePull -> ImagePullBackOff for a `.invalid` registry, CrashLoopBackOff for a `-crash` tag),
Jobs complete, RBAC and PodSecurity admission are on."""

import json
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from conftest import rollout_complete, wait_for

pytestmark = pytest.mark.integration

GOOD_IMAGE = "127.0.0.1:5000/kubedev/app:1"
UNPULLABLE_IMAGE = "registry.invalid/x:1"
CRASHING_IMAGE = "127.0.0.1:5000/kubedev/app:1-crash"


def watch_pods(core_v1, namespace, resource_version, on_event, timeout=60):
    """Feed every pod event after resource_version to on_event(pod) until it returns True."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stream = watch.Watch().stream(
            core_v1.list_namespaced_pod,
            namespace,
            resource_version=resource_version,
            timeout_seconds=max(1, int(deadline - time.monotonic())),
        )
        for event in stream:
            pod = event["object"]
            resource_version = pod.metadata.resource_version
            if on_event(pod):
                return
    raise AssertionError(f"gave up after {timeout}s watching pods in {namespace}")


def deployment_body(name, image, replicas=3, progress_deadline_seconds=None):
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
    }
    if progress_deadline_seconds:
        spec["progressDeadlineSeconds"] = progress_deadline_seconds
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def rolled_out(apps_v1, namespace, name):
    return rollout_complete(apps_v1.read_namespaced_deployment(name, namespace))


def create_rolled_out_deployment(apps_v1, namespace, name, image=GOOD_IMAGE, **kwargs):
    apps_v1.create_namespaced_deployment(namespace, deployment_body(name, image, **kwargs))
    wait_for(f"deployment {name} to roll out", lambda: rolled_out(apps_v1, namespace, name))


def condition(obj, kind):
    return next((c for c in (obj.status.conditions or []) if c.type == kind), None)


def pod_ready(pod):
    c = condition(pod, "Ready")
    return bool(c and c.status == "True")


def set_image(apps_v1, namespace, name, image):
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    apps_v1.patch_namespaced_deployment(name, namespace, patch)


def replica_sets_by_image(apps_v1, namespace, name):
    sets = apps_v1.list_namespaced_replica_set(namespace, label_selector=f"app={name}").items
    return {rs.spec.template.spec.containers[0].image: rs for rs in sets}


def test_apiserver_is_ready_with_etcd(api_client):
    method, url, headers, _, _ = api_client.param_serialize(
        "GET", "/readyz", query_params=[("verbose", "")], auth_settings=["BearerToken"]
    )
    response = api_client.call_api(method, url, header_params=headers)
    response.read()
    body = response.data.decode()
    assert response.status == 200
    assert "[+]etcd ok" in body
    assert body.rstrip().endswith("readyz check passed")


def test_deployment_becomes_available_with_kubelet_like_pod_status(namespace, apps_v1, core_v1):
    create_rolled_out_deployment(apps_v1, namespace, "web", replicas=3)

    available = condition(apps_v1.read_namespaced_deployment("web", namespace), "Available")
    assert available.status == "True"
    pods = core_v1.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name.startswith("kwok-node-")
        assert pod.status.pod_ip and pod.status.host_ip and pod.status.start_time
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            assert condition(pod, kind).status == "True", kind
        (status,) = pod.status.container_statuses
        assert status.ready and status.started and status.state.running.started_at
        assert status.image == GOOD_IMAGE
        assert status.image_id.startswith("127.0.0.1:5000/kubedev/app@sha256:")
        assert status.container_id.startswith("containerd://")


def test_image_change_rolls_out_through_a_new_replica_set(namespace, apps_v1, core_v1):
    create_rolled_out_deployment(apps_v1, namespace, "web", replicas=3)
    new_image = "127.0.0.1:5000/kubedev/app:2"

    set_image(apps_v1, namespace, "web", new_image)
    wait_for("the new image to roll out", lambda: rolled_out(apps_v1, namespace, "web"))

    sets = replica_sets_by_image(apps_v1, namespace, "web")
    assert sets[GOOD_IMAGE].spec.replicas == 0
    assert sets[new_image].spec.replicas == 3
    assert sets[new_image].status.ready_replicas == 3
    # the old pods are gone (kwok deletes terminating pods), only new, ready ones are left
    pods = wait_for(
        "the old pods to be deleted",
        lambda: (p := core_v1.list_namespaced_pod(namespace, label_selector="app=web").items) and len(p) == 3 and p,
    )
    assert {p.spec.containers[0].image for p in pods} == {new_image}
    assert all(pod_ready(p) for p in pods)


def test_unpullable_image_backs_off_and_exceeds_the_progress_deadline(namespace, apps_v1, core_v1):
    create_rolled_out_deployment(apps_v1, namespace, "web", replicas=3, progress_deadline_seconds=6)
    start = core_v1.list_namespaced_pod(namespace).metadata.resource_version
    seen = {}  # pod name -> waiting reasons in the order they appeared
    messages = {}

    def on_event(pod):
        if pod.spec.containers[0].image != UNPULLABLE_IMAGE:
            return False
        assert not pod_ready(pod), f"{pod.metadata.name} with an unpullable image became Ready"
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting
            if waiting and waiting.reason and waiting.reason not in seen.setdefault(pod.metadata.name, []):
                seen[pod.metadata.name].append(waiting.reason)
                messages[waiting.reason] = waiting.message
        return any(r[-2:] == ["ErrImagePull", "ImagePullBackOff"] for r in seen.values())

    set_image(apps_v1, namespace, "web", UNPULLABLE_IMAGE)
    watch_pods(core_v1, namespace, start, on_event)

    assert "registry.invalid" in messages["ErrImagePull"] and "no such host" in messages["ErrImagePull"]
    assert messages["ImagePullBackOff"] == f'Back-off pulling image "{UNPULLABLE_IMAGE}"'
    progressing = wait_for(
        "Progressing=False/ProgressDeadlineExceeded",
        lambda: (c := condition(apps_v1.read_namespaced_deployment("web", namespace), "Progressing"))
        and c.reason == "ProgressDeadlineExceeded"
        and c,
    )
    assert progressing.status == "False"
    # maxUnavailable rounds down to 0 of 3: the old pods keep serving
    assert replica_sets_by_image(apps_v1, namespace, "web")[GOOD_IMAGE].status.ready_replicas == 3
    new_pods = [p for p in core_v1.list_namespaced_pod(namespace).items if p.spec.containers[0].image == UNPULLABLE_IMAGE]
    assert new_pods and not any(pod_ready(p) for p in new_pods)


def test_crashing_image_crash_loops_with_growing_restart_count(namespace, apps_v1, core_v1):
    start = core_v1.list_namespaced_pod(namespace).metadata.resource_version
    crash_loops = []

    def on_event(pod):
        assert not pod_ready(pod), f"{pod.metadata.name} with a crashing image became Ready"
        (status,) = pod.status.container_statuses or [None]
        if status and status.state.waiting and status.state.waiting.reason == "CrashLoopBackOff":
            crash_loops.append((pod, status))
        return status is not None and status.restart_count >= 2

    apps_v1.create_namespaced_deployment(namespace, deployment_body("crashy", CRASHING_IMAGE, replicas=1))
    watch_pods(core_v1, namespace, start, on_event, timeout=90)

    pod, first = crash_loops[0]
    assert first.restart_count == 1
    assert first.last_state.terminated.exit_code == 1
    assert first.state.waiting.message == (
        f"back-off 10s restarting failed container=app pod={pod.metadata.name}_{namespace}({pod.metadata.uid})"
    )
    assert crash_loops[-1][1].restart_count == 2
    assert crash_loops[-1][1].state.waiting.message.startswith("back-off 20s restarting failed container=app")
    assert pod.status.phase == "Running"
    assert not apps_v1.read_namespaced_deployment("crashy", namespace).status.available_replicas


def test_init_containers_complete_before_the_pod_is_ready(namespace, core_v1):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "with-init"},
        "spec": {
            "initContainers": [{"name": "migrate", "image": "127.0.0.1:5000/kubedev/migrate:1"}],
            "containers": [{"name": "app", "image": GOOD_IMAGE}],
        },
    }
    core_v1.create_namespaced_pod(namespace, body)
    pod = wait_for("the pod to be Ready", lambda: pod_ready(p := core_v1.read_namespaced_pod("with-init", namespace)) and p)
    (init,) = pod.status.init_container_statuses
    assert init.state.terminated.exit_code == 0 and init.state.terminated.reason == "Completed"
    assert condition(pod, "Initialized").status == "True"


def cronjob_body(name, schedule="* * * * *", suspend=False):
    pod_spec = {
        "restartPolicy": "OnFailure",
        "containers": [{"name": "hello", "image": "127.0.0.1:5000/kubedev/busybox:1", "command": ["echo", "hello"]}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "suspend": suspend,
            "jobTemplate": {
                "metadata": {"labels": {"cronjob": name}},
                "spec": {"backoffLimit": 1, "template": {"metadata": {"labels": {"cronjob": name}}, "spec": pod_spec}},
            },
        },
    }


def job_complete(batch_v1, namespace, name):
    job = batch_v1.read_namespaced_job(name, namespace)
    c = condition(job, "Complete")
    return c is not None and c.status == "True" and job


def test_job_created_from_a_cronjob_completes(namespace, batch_v1):
    """What `kubectl create job --from=cronjob/NAME` does, without waiting for the schedule."""
    batch_v1.create_namespaced_cron_job(namespace, cronjob_body("print-hello", suspend=True))
    cronjob = batch_v1.read_namespaced_cron_job("print-hello", namespace)
    template = cronjob.spec.job_template
    job = client.V1Job(
        metadata=client.V1ObjectMeta(
            name="print-hello-manual",
            labels=template.metadata.labels,
            annotations={"cronjob.kubernetes.io/instantiate": "manual"},
            owner_references=[
                client.V1OwnerReference(
                    api_version="batch/v1", kind="CronJob", name="print-hello", uid=cronjob.metadata.uid, controller=True
                )
            ],
        ),
        spec=template.spec,
    )
    batch_v1.create_namespaced_job(namespace, job)

    done = wait_for("the job to complete", lambda: job_complete(batch_v1, namespace, "print-hello-manual"))
    assert done.status.succeeded == 1
    assert not done.status.failed


def test_cronjob_controller_runs_an_every_minute_schedule(namespace, batch_v1):
    batch_v1.create_namespaced_cron_job(namespace, cronjob_body("every-minute"))
    uid = batch_v1.read_namespaced_cron_job("every-minute", namespace).metadata.uid

    def scheduled_job():
        jobs = batch_v1.list_namespaced_job(namespace).items
        return next((j for j in jobs if any(o.uid == uid for o in j.metadata.owner_references or [])), None)

    # the next minute boundary is at most 60 s away
    job = wait_for("the CronJob controller to create a Job", scheduled_job, timeout=90)
    wait_for("the scheduled job to complete", lambda: job_complete(batch_v1, namespace, job.metadata.name))
    cronjob = wait_for(
        "the CronJob to record the success",
        lambda: (c := batch_v1.read_namespaced_cron_job("every-minute", namespace)).status.last_successful_time and c,
    )
    assert cronjob.status.last_schedule_time is not None


def test_deleted_pod_is_replaced_by_a_new_ready_pod(namespace, apps_v1, core_v1):
    create_rolled_out_deployment(apps_v1, namespace, "web", replicas=3)
    pods = core_v1.list_namespaced_pod(namespace, label_selector="app=web").items
    victim = pods[0].metadata.name

    core_v1.delete_namespaced_pod(victim, namespace)

    def replaced():
        now = core_v1.list_namespaced_pod(namespace, label_selector="app=web").items
        names = {p.metadata.name for p in now}
        return victim not in names and len(now) == 3 and all(pod_ready(p) for p in now) and names

    names = wait_for("a ready replacement pod", replaced)
    assert len(names - {p.metadata.name for p in pods}) == 1
    # The Deployment's status follows its ReplicaSet's, which follows the pods: it can lag the ready pod by a sync.
    wait_for("the Deployment to count the replacement as available", lambda: rolled_out(apps_v1, namespace, "web"))


def test_rbac_denies_a_service_account_without_rights(namespace, api_client, core_v1, rbac_v1):
    core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    token = core_v1.create_namespaced_service_account_token("nobody", namespace, request).status.token
    config = client.Configuration()
    config.host = api_client.configuration.host
    config.ssl_ca_cert = api_client.configuration.ssl_ca_cert
    config.api_key = {"BearerToken": token}
    config.api_key_prefix = {"BearerToken": "Bearer"}
    as_nobody = client.ApiClient(config)

    # the token authenticates (so a 403 below is RBAC speaking, not a bad token)
    review = client.AuthenticationV1Api(as_nobody).create_self_subject_review({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:nobody"
    with pytest.raises(ApiException) as denied:
        client.CoreV1Api(as_nobody).list_namespaced_pod(namespace)
    assert denied.value.status == 403

    rbac_v1.create_namespaced_role(
        namespace,
        {"metadata": {"name": "pod-reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
    )
    rbac_v1.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "nobody-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
        },
    )

    def allowed():
        try:
            return client.CoreV1Api(as_nobody).list_namespaced_pod(namespace) is not None
        except ApiException as e:
            if e.status != 403:
                raise
            return False

    assert wait_for("the RoleBinding to take effect", allowed, timeout=30)


def test_pod_security_restricted_rejects_a_privileged_pod(namespace, core_v1):
    core_v1.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "app", "image": GOOD_IMAGE, "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(ApiException) as rejected:
        core_v1.create_namespaced_pod(namespace, privileged)
    assert rejected.value.status == 403
    message = json.loads(rejected.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert 'container "app" must not set securityContext.privileged=true' in message

    # a pod that meets the restricted profile is admitted: the rejection above is about the profile
    restricted = {
        "metadata": {"name": "restricted"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": GOOD_IMAGE,
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    assert core_v1.create_namespaced_pod(namespace, restricted).metadata.uid


def test_every_node_is_a_ready_kwok_node(core_v1):
    nodes = core_v1.list_node(label_selector="type=kwok").items
    assert len(nodes) >= 2
    for node in nodes:
        assert condition(node, "Ready").status == "True"
        assert int(node.status.allocatable["pods"]) >= 60
        assert node.metadata.labels["kubernetes.io/os"] == "linux"
