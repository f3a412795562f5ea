"""keepalive_sysctl's warning for a netns a container or pod owns, every string pinned.

The owner reader is replaced here by one that returns a fixed owner for the namespace (the
real reader runs against real cgroups in tests/integration/test_container_namespaces.py).
"""

from __future__ import annotations

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation_containers,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import _converge

CID = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"
DOCKER = {
    "kind": "container",
    "runtime": "docker",
    "id": CID,
    "short_id": CID[:12],
    "pod_uid": None,
    "task": None,
    "containers": [CID],
    "label": "Docker container 9ec39b91f3d7",
}
BEFORE = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}


def settings(netns="/proc/self/ns/net", state="present", **wanted):
    return {"netns": netns, "netns_path": netns, "state": state, "wanted": wanted}


def owned_by(owner):
    return lambda inodes: {inode: owner for inode in inodes}


def test_the_warning_gives_the_runtime_setting_for_the_values_asked_for():
    text = _converge.container_warning(
        settings(tcp_keepalive_time=180), BEFORE, read_owners=owned_by(DOCKER)
    )
    advice = _remediation_containers.container_advice(
        DOCKER, {"time": 180, "intvl": 75, "probes": 9}
    )
    assert text == (
        "netns=/proc/self/ns/net belongs to Docker container 9ec39b91f3d7: a value set in its "
        "namespace vanishes with the container (the next one starts from the kernel defaults "
        "7200/75/9, and the host's sysctl never reaches it); set them in the runtime: the "
        "container's run options (docker run, compose sysctls:, an ECS task definition's "
        "systemControls): docker run --sysctl net.ipv4.tcp_keepalive_time=180 --sysctl "
        "net.ipv4.tcp_keepalive_intvl=75 --sysctl net.ipv4.tcp_keepalive_probes=9 ... "
        "(https://docs.docker.com/reference/cli/docker/container/run/#sysctl)"
    )
    assert advice["set"] in text


def test_an_owner_without_advice_still_warns():
    unknown = dict(DOCKER, runtime=None, label="container runtime container 9ec39b91f3d7")
    text = _converge.container_warning(
        settings(tcp_keepalive_time=180), BEFORE, read_owners=owned_by(unknown)
    )
    assert text.endswith("never reaches it); set the values in the runtime that starts it")


def test_no_warning_without_an_owner_a_netns_or_state_present():
    owner = owned_by(DOCKER)
    assert _converge.container_warning(settings(), BEFORE, read_owners=owned_by(None)) is None
    assert _converge.container_warning(settings(netns=None), BEFORE, read_owners=owner) is None
    assert _converge.container_warning(settings(state="absent"), BEFORE, read_owners=owner) is None
