"""Namespace owners from cgroup paths: every runtime's naming, cgroup v2 and v1 forms.

The paths are the shapes runtimes and the kubelet write on real hosts (systemd and cgroupfs
drivers); ``read_owners`` is run against the real /proc of this machine.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _netns_owner as owners,
)

CID = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"
CID2 = "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376"
UID = "74c13223-5a00-11e9-b385-42010a80018d"
UID_SYSTEMD = UID.replace("-", "_")
STATIC_UID = "5c3f0ac42a8f5b0ed1e79a02c4fb02a9"
TASK = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def owner(kind, runtime, cid=CID, pod_uid=None, task=None):
    return {
        "kind": kind,
        "runtime": runtime,
        "id": cid,
        "short_id": cid[:12] if cid else None,
        "pod_uid": pod_uid,
        "task": task,
    }


PATHS = [
    # Docker, systemd driver (cgroup v2 and v1 named hierarchies look alike)
    ("/system.slice/docker-%s.scope" % CID, owner("container", "docker")),
    # Docker, cgroupfs driver
    ("/docker/%s" % CID, owner("container", "docker")),
    # Docker in Docker: the innermost container is the process's
    ("/system.slice/docker-%s.scope/docker/%s" % (CID2, CID), owner("container", "docker")),
    # Podman rootful, rootless, and the container/ sub-cgroup of newer Podman
    ("/machine.slice/libpod-%s.scope" % CID, owner("container", "podman")),
    ("/machine.slice/libpod-%s.scope/container" % CID, owner("container", "podman")),
    (
        "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-%s.scope" % CID,
        owner("container", "podman"),
    ),
    ("/libpod_parent/libpod-%s" % CID, owner("container", "podman")),
    # nerdctl on containerd
    ("/system.slice/nerdctl-%s.scope" % CID, owner("container", "containerd")),
    # Kubernetes, systemd driver: each QoS class, each runtime
    (
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/"
        "cri-containerd-%s.scope" % (UID_SYSTEMD, CID),
        owner("pod", "containerd", pod_uid=UID),
    ),
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
        "crio-%s.scope" % (UID_SYSTEMD, CID),
        owner("pod", "cri-o", pod_uid=UID),
    ),
    (
        "/kubepods.slice/kubepods-pod%s.slice/docker-%s.scope" % (UID_SYSTEMD, CID),
        owner("pod", "docker", pod_uid=UID),
    ),
    # kind / nested kubelets prefix the slices
    (
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        "kubelet-kubepods-besteffort-pod%s.slice/cri-containerd-%s.scope" % (UID_SYSTEMD, CID),
        owner("pod", "containerd", pod_uid=UID),
    ),
    # a static pod's UID is a 32-hex hash
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
        "cri-containerd-%s.scope" % (STATIC_UID, CID),
        owner("pod", "containerd", pod_uid=STATIC_UID),
    ),
    # Kubernetes, cgroupfs driver (v1 and v2): the runtime is not named
    ("/kubepods/besteffort/pod%s/%s" % (UID, CID), owner("pod", None, pod_uid=UID)),
    ("/kubepods/pod%s/%s" % (UID, CID), owner("pod", None, pod_uid=UID)),
    # the pod slice alone (a process the kubelet put in the pod, no container scope)
    (
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice" % UID_SYSTEMD,
        owner("pod", None, cid=None, pod_uid=UID),
    ),
    # ECS agent (cgroupfs)
    ("/ecs/%s/%s" % (TASK, CID), owner("task", "docker", task=TASK)),
    # no owner: host services, sessions, conmon monitors, look-alikes
    ("/system.slice/ssh.service", None),
    ("/user.slice/user-0.slice/session-3.scope", None),
    ("/system.slice/crio-conmon-%s.scope" % CID, None),
    ("/machine.slice/libpod-conmon-%s.scope" % CID, None),
    ("/system.slice/docker.service", None),
    ("/system.slice/containerd.service", None),
    ("/system.slice/docker-%s.scope" % CID[:12], None),  # a short id is no runtime's name
    ("/pod%s/%s" % (UID, CID), owner("container", None)),  # a pod dir outside kubepods
    ("/", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize("path, expected", PATHS)
def test_owner_of_path(path, expected):
    assert owners.owner_of_path(path) == expected


V1_DOCKER = "\n".join(
    [
        "12:pids:/docker/%s" % CID,
        "11:memory:/docker/%s" % CID,
        "2:cpu,cpuacct:/docker/%s" % CID,
        "1:name=systemd:/docker/%s" % CID,
        "",
    ]
)
V1_KUBEPODS = (
    "11:memory:/kubepods/besteffort/pod%s/%s\n1:name=systemd:/kubepods/besteffort/pod%s/%s\n"
    % (
        UID,
        CID,
        UID,
        CID,
    )
)
# hybrid: the unified line names systemd's view, the v1 lines the runtime's
HYBRID = (
    "12:memory:/docker/%s\n1:name=systemd:/system.slice/x.scope\n0::/system.slice/x.scope\n" % CID
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0::/system.slice/docker-%s.scope\n" % CID, owner("container", "docker")),
        (V1_DOCKER, owner("container", "docker")),
        (V1_KUBEPODS, owner("pod", None, pod_uid=UID)),
        (HYBRID, owner("container", "docker")),
        ("0::/init.scope\n", None),
        ("", None),
        ("garbage\n", None),
    ],
)
def test_owner_of_cgroup_file(text, expected):
    assert owners.owner_of_cgroup_file(text) == expected


def test_cgroup_paths_of_puts_the_unified_line_first():
    assert owners.cgroup_paths_of(HYBRID) == [
        "/system.slice/x.scope",
        "/docker/%s" % CID,
    ]


POD_SANDBOX = (
    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/"
    "cri-containerd-%s.scope\n" % (UID_SYSTEMD, CID2)
)
POD_APP = (
    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/"
    "cri-containerd-%s.scope\n" % (UID_SYSTEMD, CID)
)


def test_namespace_owner_of_a_pod():
    found = owners.namespace_owner(
        [(900, POD_APP), (120, POD_SANDBOX), (95, "0::/system.slice/ssh.service\n")]
    )
    assert found == dict(
        owner("pod", "containerd", cid=CID2, pod_uid=UID),
        containers=sorted([CID, CID2]),
        label="Kubernetes pod %s (containerd)" % UID,
    )


def test_namespace_owner_prefers_the_pod():
    cgroupfs = "0::/kubepods/besteffort/pod%s/%s\n" % (UID, CID2)
    found = owners.namespace_owner(
        [(10, "0::/system.slice/docker-%s.scope\n" % CID), (20, cgroupfs)]
    )
    assert (found["kind"], found["pod_uid"], found["runtime"], found["id"]) == (
        "pod",
        UID,
        None,  # the cgroupfs driver does not name it
        CID2,
    )


def test_namespace_owner_of_host_processes_is_none():
    assert owners.namespace_owner([(1, "0::/init.scope\n"), (50, "0::/user.slice\n")]) is None
    assert owners.namespace_owner([]) is None


@pytest.mark.parametrize(
    "found, label",
    [
        (owner("container", "docker"), "Docker container 9ec39b91f3d7"),
        (owner("container", "podman"), "Podman container 9ec39b91f3d7"),
        (owner("container", "containerd"), "containerd container 9ec39b91f3d7"),
        (owner("container", None), "container runtime container 9ec39b91f3d7"),
        (owner("pod", "cri-o", pod_uid=UID), "Kubernetes pod %s (CRI-O)" % UID),
        (owner("pod", None, pod_uid=UID), "Kubernetes pod %s" % UID),
        (owner("task", "docker", task=TASK), "ECS task %s" % TASK),
    ],
)
def test_describe(found, label):
    assert owners.describe(found) == label


def test_every_runtime_has_a_name():
    assert sorted(owners.RUNTIME_NAMES) == sorted(owners.RUNTIMES)


def test_read_owners_on_this_machine():
    """The real /proc: this process's namespace is the host's, its owner nobody's."""
    own = os.stat("/proc/self/ns/net").st_ino
    assert owners.read_owners([own]) == {own: None}
    assert owners.read_owners([]) == {}
    assert owners.read_owners([1]) == {1: None}  # an inode no namespace has
