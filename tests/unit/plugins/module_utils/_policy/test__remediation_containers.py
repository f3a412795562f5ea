"""The runtime's own setting for a container's or pod's namespace: every advice string, pinned.

The values are what the engine derives for ``[azure_lb_standard]`` (240 s) with no profile.
"""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation,
    _remediation_containers,
)

WHY = _remediation_containers.WHY
container_advice = _remediation_containers.container_advice

VALUES = {"time": 210, "intvl": 10, "probes": 3}
DOCKER_ID = "3f4e5d6c7b8a" + "0123456789abcdef" * 3 + "0123"
KNOB = "net.ipv4.tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes"
FLAGS = (
    "--sysctl net.ipv4.tcp_keepalive_time=210 --sysctl net.ipv4.tcp_keepalive_intvl=10 "
    "--sysctl net.ipv4.tcp_keepalive_probes=3 ..."
)


def owner(kind="container", runtime=None, pod_uid=None, task=None, cid=DOCKER_ID):
    return {
        "kind": kind,
        "runtime": runtime,
        "id": cid,
        "short_id": cid[:12] if cid else None,
        "pod_uid": pod_uid,
        "task": task,
    }


POD_UID = "5b8e7f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"

ADVICE = [
    (
        owner("pod", "containerd", POD_UID),
        {
            "service": "Kubernetes pod %s (containerd)" % POD_UID,
            "where": "the pod spec (its Deployment, StatefulSet, ... template): "
            "spec.securityContext.sysctls",
            "knob": KNOB,
            "set": 'securityContext: {sysctls: [{name: net.ipv4.tcp_keepalive_time, value: "210"}, '
            '{name: net.ipv4.tcp_keepalive_intvl, value: "10"}, '
            '{name: net.ipv4.tcp_keepalive_probes, value: "3"}]}',
            "doc": "https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/",
            "why": WHY + "; the three keepalive sysctls are safe sysctls since Kubernetes 1.29 "
            "(before, the kubelet must allow them with --allowed-unsafe-sysctls)",
        },
    ),
    (
        # cgroupfs driver: the pod is known, the runtime is not.
        owner("pod", None, POD_UID),
        {
            "service": "Kubernetes pod " + POD_UID,
            "where": "the pod spec (its Deployment, StatefulSet, ... template): "
            "spec.securityContext.sysctls",
            "knob": KNOB,
            "set": 'securityContext: {sysctls: [{name: net.ipv4.tcp_keepalive_time, value: "210"}, '
            '{name: net.ipv4.tcp_keepalive_intvl, value: "10"}, '
            '{name: net.ipv4.tcp_keepalive_probes, value: "3"}]}',
            "doc": "https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/",
            "why": WHY + "; the three keepalive sysctls are safe sysctls since Kubernetes 1.29 "
            "(before, the kubelet must allow them with --allowed-unsafe-sysctls)",
        },
    ),
    (
        owner("container", "docker"),
        {
            "service": "Docker container 3f4e5d6c7b8a",
            "where": "the container's run options (docker run, compose sysctls:, an ECS task "
            "definition's systemControls)",
            "knob": KNOB,
            "set": "docker run " + FLAGS,
            "doc": "https://docs.docker.com/reference/cli/docker/container/run/#sysctl",
            "why": WHY + "; not with --network host, which shares the host's namespace",
        },
    ),
    (
        owner("container", "podman"),
        {
            "service": "Podman container 3f4e5d6c7b8a",
            "where": "the container's run options (podman run, a quadlet's Sysctl=), or "
            "default_sysctls in containers.conf for every container",
            "knob": KNOB,
            "set": "podman run " + FLAGS,
            "doc": "https://docs.podman.io/en/latest/markdown/podman-run.1.html#sysctl-name-value",
            "why": WHY + "; a pod's containers share its namespace: set them on podman pod create",
        },
    ),
    (
        owner("container", "containerd"),
        {
            "service": "containerd container 3f4e5d6c7b8a",
            "where": "the container's run options (nerdctl run, or linux.sysctl in its OCI spec)",
            "knob": KNOB,
            "set": "nerdctl run " + FLAGS,
            "doc": "https://github.com/containerd/nerdctl/blob/main/docs/command-reference.md"
            "#whale-blue_square-nerdctl-run",
            "why": WHY + "; ctr has no such flag: the OCI spec's linux.sysctl carries them",
        },
    ),
    (
        owner("task", "docker", task="0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        {
            "service": "ECS task 0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "where": "the task definition's container definitions: systemControls",
            "knob": KNOB,
            "set": '"systemControls": [{"namespace": "net.ipv4.tcp_keepalive_time", '
            '"value": "210"}, {"namespace": "net.ipv4.tcp_keepalive_intvl", "value": "10"}, '
            '{"namespace": "net.ipv4.tcp_keepalive_probes", "value": "3"}]',
            "doc": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
            "task_definition_parameters.html#container_definition_systemcontrols",
            "why": WHY + "; in awsvpc mode they apply to every container of the task, not with "
            "host network mode",
        },
    ),
]


@pytest.mark.parametrize("found, expected", ADVICE, ids=[a["service"] for _o, a in ADVICE])
def test_advice(found, expected):
    advice = container_advice(found, VALUES)
    assert advice == expected
    assert tuple(advice) == _remediation.ADVICE_KEYS


def test_why_says_what_never_works():
    assert WHY == (
        "a container's network namespace starts from the kernel defaults (7200/75/9) and the "
        "host sysctl never reaches it; a write into the running namespace vanishes with the "
        "container, so the runtime must give every new one these values"
    )


@pytest.mark.parametrize(
    "found, values",
    [
        (None, VALUES),
        ({}, VALUES),
        (owner("container", "docker"), None),  # nothing passes the path
        (owner("container", None), VALUES),  # a container id with no runtime to name
        (owner("container", "lxc"), VALUES),
        # CRI-O runs pods only: without the pod's UID there is no spec to name.
        (owner("container", "cri-o"), VALUES),
        (owner("container", "docker", cid=None), VALUES),
    ],
)
def test_no_advice(found, values):
    assert container_advice(found, values) is None


def test_remediation_asks_it_for_an_unknown_program_in_a_container():
    namespace = {
        "tcp_keepalive_time": 7200,
        "tcp_keepalive_intvl": 75,
        "tcp_keepalive_probes": 9,
        "owner": owner("container", "docker"),
    }
    group = {
        "netns": "net:[1]",
        "unit": "docker-%s.scope" % DOCKER_ID,
        "comm": "myserver",
        "keepalive": True,
        "idle": 7200,
        "intvl": 75,
        "cnt": 9,
    }
    advice = _remediation.advise(
        group, ["azure_lb_standard"], namespace=namespace, container_advice=container_advice
    )
    assert advice["set"] == "docker run " + FLAGS


def namespace(time, intvl, probes, current=False, found=None, inode=1):
    return {
        "tcp_keepalive_time": time,
        "tcp_keepalive_intvl": intvl,
        "tcp_keepalive_probes": probes,
        "tcp_retries2": 15,
        "inode": inode,
        "names": [],
        "current": current,
        "owner": found,
    }


DOCKER = dict(owner("container", "docker"), label="Docker container 3f4e5d6c7b8a")
NAMESPACES = {
    "net:[4026531840]": namespace(180, 20, 3, current=True),
    "net:[4026532500]": namespace(7200, 75, 9, found=DOCKER),
    "net:[4026532600]": namespace(210, 10, 3, found=owner("pod", "cri-o", POD_UID)),
    "lab1": namespace(7200, 75, 9),  # a namespace no runtime owns: not judged here
}


def test_namespace_verdicts_against_the_host_and_the_profile():
    found = _remediation_containers.namespace_verdicts(NAMESPACES, ["azure_lb_standard"])
    assert found == [
        {
            "check": "container_namespace",
            "subject": "Docker container 3f4e5d6c7b8a [net:[4026532500]]",
            "status": "fail",
            "value": 7200,
            "limit": 210,
            "message": "Docker container 3f4e5d6c7b8a [net:[4026532500]]: tcp_keepalive "
            "7200/75/9 (the kernel defaults), the host 180/20/3, the path needs 210/10/3: "
            "Azure Load Balancer (Standard) (azure_lb_standard) drops an idle connection "
            "after 240 s (at expiry: silent; optional RST to both sides); the first probe "
            "leaves at 7200 s: idle connections through it die silently; set time <= 210 s",
            "advice": container_advice(DOCKER, VALUES),
        },
        {
            "check": "container_namespace",
            "subject": "Kubernetes pod %s (CRI-O) [net:[4026532600]]" % POD_UID,
            "status": "pass",
            "value": 210,
            "limit": 210,
            "message": "Kubernetes pod %s (CRI-O) [net:[4026532600]]: tcp_keepalive 210/10/3, "
            "the host 180/20/3, the path needs 210/10/3: passes" % POD_UID,
        },
    ]


def test_namespace_verdicts_with_a_profile():
    found = _remediation_containers.namespace_verdicts(
        {"host": NAMESPACES["net:[4026531840]"], "c": NAMESPACES["net:[4026532500]"]},
        [],
        "cloud",
    )
    (verdict,) = found
    assert verdict["status"] == "fail"
    assert verdict["message"].startswith(
        "Docker container 3f4e5d6c7b8a [c]: tcp_keepalive 7200/75/9 (the kernel defaults), "
        "the host 180/20/3, the profile wants 180/20/3: "
    )
    assert verdict["advice"]["set"] == (
        "docker run --sysctl net.ipv4.tcp_keepalive_time=180 --sysctl "
        "net.ipv4.tcp_keepalive_intvl=20 --sysctl net.ipv4.tcp_keepalive_probes=3 ..."
    )


def test_namespace_verdicts_unread_values_warn():
    unread = dict(NAMESPACES["net:[4026532500]"], tcp_keepalive_time=None)
    (verdict,) = _remediation_containers.namespace_verdicts({"c": unread}, ["azure_lb_standard"])
    assert (verdict["status"], verdict["value"]) == ("warn", None)
    assert verdict["message"] == (
        "Docker container 3f4e5d6c7b8a [c]: tcp_keepalive unknown, the host unknown, the path "
        "needs 210/10/3: its sysctls could not be read"
    )


def test_no_namespace_verdicts_without_containers():
    host_only = {"net:[1]": namespace(180, 20, 3, current=True), "lab1": namespace(7200, 75, 9)}
    assert _remediation_containers.namespace_verdicts(host_only, ["azure_lb_standard"]) == []


def test_container_namespaces_for_the_host_report():
    found = _remediation_containers.container_namespaces(
        NAMESPACES, {"time": 180, "intvl": 20, "probes": 3}
    )
    assert found == [
        {
            "netns": "net:[4026532500]",
            "owner": "Docker container 3f4e5d6c7b8a",
            "kind": "container",
            "runtime": "docker",
            "id": "3f4e5d6c7b8a",
            "pod_uid": None,
            "values": {"time": 7200, "intvl": 75, "probes": 9},
            "host": {"time": 180, "intvl": 20, "probes": 3},
            "wanted": {"time": 180, "intvl": 20, "probes": 3},
            "advice": container_advice(DOCKER, {"time": 180, "intvl": 20, "probes": 3}),
        },
        {
            "netns": "net:[4026532600]",
            "owner": "Kubernetes pod %s (CRI-O)" % POD_UID,
            "kind": "pod",
            "runtime": "cri-o",
            "id": "3f4e5d6c7b8a",
            "pod_uid": POD_UID,
            "values": {"time": 210, "intvl": 10, "probes": 3},
            "host": {"time": 180, "intvl": 20, "probes": 3},
            "wanted": {"time": 180, "intvl": 20, "probes": 3},
            "advice": container_advice(
                owner("pod", "cri-o", POD_UID), {"time": 180, "intvl": 20, "probes": 3}
            ),
        },
    ]
    # the same values as wanted: nothing to fix; no profile: nothing to compare with
    same = _remediation_containers.container_namespaces(
        NAMESPACES, {"time": 210, "intvl": 10, "probes": 3}
    )
    assert [entry["advice"] is None for entry in same] == [False, True]
    assert all(
        e["advice"] is None for e in _remediation_containers.container_namespaces(NAMESPACES, None)
    )
    assert _remediation_containers.container_namespaces(None, None) == []
    assert _remediation_containers.container_namespaces([], None) == []
