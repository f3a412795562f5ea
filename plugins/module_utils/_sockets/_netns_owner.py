# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns a network namespace: a Docker, containerd, CRI-O or Podman container, a
Kubernetes pod, an ECS task, from the cgroup paths of the processes in it.

This module_util is private to the netstack.keepalive collection; it may change at any time.

A container runtime names the cgroup of every container it starts, and the kubelet names
the pod's slice; the names are all there is to read on a host without asking the runtime:

- systemd cgroup driver (cgroup v2, and v1's named hierarchies): ``docker-<id>.scope``,
  ``cri-containerd-<id>.scope``, ``crio-<id>.scope``, ``libpod-<id>.scope`` (Podman, whose
  processes may sit one level deeper, in ``.../container``), ``nerdctl-<id>.scope``; a pod's
  containers under ``kubepods[-burstable|-besteffort]-pod<uid>.slice`` (the UID's dashes
  written as underscores);
- cgroupfs driver: ``/docker/<id>``, ``/libpod_parent/libpod-<id>``,
  ``/kubepods[/burstable|/besteffort]/pod<uid>/<id>`` (the runtime is not named there),
  ``/ecs/<task>/<id>`` (the ECS agent).

The conmon monitors (``crio-conmon-<id>.scope``, ``libpod-conmon-<id>.scope``) stay in the
host's namespace and are no container. Ids are the runtimes' 64 hex digits.

An owner is ``{kind, runtime, id, short_id, pod_uid, task, containers, label}``
(``OWNER_KEYS``): ``kind`` ``pod``, ``task`` or ``container``; ``runtime`` one of ``RUNTIMES``
or None when the path does not say; ``containers`` the distinct container ids seen in the
namespace (a pod's sandbox and its containers share it). Everything here is pure but
``read_owners``, which reads /proc.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

KIND_CONTAINER = "container"
KIND_POD = "pod"
KIND_TASK = "task"
RUNTIMES = ("docker", "containerd", "cri-o", "podman")
RUNTIME_NAMES = {
    "docker": "Docker",
    "containerd": "containerd",
    "cri-o": "CRI-O",
    "podman": "Podman",
}
OWNER_KEYS = ("kind", "runtime", "id", "short_id", "pod_uid", "task", "containers", "label")
SHORT_ID = 12  # the length every runtime's CLI shows

_ID = r"[0-9a-f]{64}"
# systemd driver: <prefix>-<id>.scope
_SCOPE = re.compile(r"^(docker|cri-containerd|crio|libpod|nerdctl)-(%s)\.scope$" % _ID)
_SCOPE_RUNTIME = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "nerdctl": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}
# cgroupfs driver: a bare id (its parent says whose) or Podman's libpod-<id>
_BARE_ID = re.compile(r"^(%s)$" % _ID)
_LIBPOD_DIR = re.compile(r"^libpod-(%s)$" % _ID)
_CGROUPFS_PARENT = {"docker": "docker", "libpod_parent": "podman"}
# A pod UID: a UUID, or the 32 hex digits of a static pod's (a hash of its manifest).
_UID = r"[0-9a-f]{8}(?:[-_][0-9a-f]{4}){3}[-_][0-9a-f]{12}|[0-9a-f]{32}"
_POD_SLICE = re.compile(
    r"^(?:[a-z0-9]+-)?kubepods(?:-burstable|-besteffort)?-pod(%s)\.slice$" % _UID
)
_POD_DIR = re.compile(r"^pod(%s)$" % _UID)
_ECS_TASK = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f-]{36}$")


def owner_of_path(path):
    """The owner a cgroup path names (``OWNER_KEYS`` but ``containers`` and ``label``), or
    None: a host service, a user session, a path no runtime writes."""
    if not path:
        return None
    parts = [part for part in path.split("/") if part]
    runtime = container = pod_uid = task = None
    for index, part in enumerate(parts):
        parent = parts[index - 1] if index else ""
        match = _SCOPE.match(part)
        if match:
            runtime, container = _SCOPE_RUNTIME[match.group(1)], match.group(2)
            continue
        match = _POD_SLICE.match(part) or (
            _POD_DIR.match(part) if _under_kubepods(parts, index) else None
        )
        if match:
            pod_uid = match.group(1).replace("_", "-")
            continue
        match = _LIBPOD_DIR.match(part)
        if match:
            runtime, container = "podman", match.group(1)
            continue
        match = _BARE_ID.match(part)
        if match:
            container = match.group(1)
            runtime = _CGROUPFS_PARENT.get(parent, runtime)
            if index >= 2 and parts[index - 2] == "ecs" and _ECS_TASK.match(parent):
                runtime, task = "docker", parent
    if container is None and pod_uid is None:
        return None
    return _owner(runtime, container, pod_uid, task)


def _under_kubepods(parts, index):
    """cgroupfs pod directories sit under ``kubepods`` (and its QoS classes)."""
    return "kubepods" in parts[:index]


def _owner(runtime, container, pod_uid, task):
    if pod_uid is not None:
        kind = KIND_POD
    elif task is not None:
        kind = KIND_TASK
    else:
        kind = KIND_CONTAINER
    return {
        "kind": kind,
        "runtime": runtime,
        "id": container,
        "short_id": container[:SHORT_ID] if container else None,
        "pod_uid": pod_uid,
        "task": task,
    }


def cgroup_paths_of(text):
    """The paths of a /proc/PID/cgroup file: the cgroup v2 line (``0::``) first, then the
    v1 hierarchies' (``N:controllers:path``), each once."""
    unified = []
    legacy = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) == 3:
            (unified if fields[:2] == ["0", ""] else legacy).append(fields[2])
    paths = []
    for path in unified + legacy:
        if path not in paths:
            paths.append(path)
    return paths


def owner_of_cgroup_file(text):
    """The owner of a process from its /proc/PID/cgroup text (v2 or v1), or None."""
    for path in cgroup_paths_of(text):
        found = owner_of_path(path)
        if found is not None:
            return found
    return None


def namespace_owner(cgroup_files):
    """The owner of a namespace from its processes' ``[(pid, /proc/PID/cgroup text)]``.

    The lowest pid with an owner decides (it is the namespace's first process as a rule: a
    pod's sandbox, a container's init); a pod is preferred over a lone container, since a
    pod's containers all name it. ``containers`` lists every container id seen.
    """
    owners = []
    for _pid, text in sorted(cgroup_files, key=lambda item: item[0]):
        found = owner_of_cgroup_file(text)
        if found is not None:
            owners.append(found)
    if not owners:
        return None
    pods = [found for found in owners if found["pod_uid"]]
    chosen = dict((pods or owners)[0])
    chosen["containers"] = sorted(set(o["id"] for o in owners if o["id"]))
    chosen["label"] = describe(chosen)
    return chosen


def describe(owner):
    """``Docker container 3f4e5d6c7b8a``, ``Kubernetes pod <uid> (containerd)``, ..."""
    runtime = RUNTIME_NAMES.get(owner.get("runtime"), owner.get("runtime"))
    if owner.get("pod_uid"):
        text = "Kubernetes pod %s" % owner["pod_uid"]
        return text if runtime is None else "%s (%s)" % (text, runtime)
    if owner.get("task"):
        return "ECS task %s" % owner["task"]
    return "%s container %s" % (runtime or "container runtime", owner.get("short_id"))


def read_owners(inodes, proc="/proc"):
    """``{namespace inode: owner or None}`` for ``inodes``, from /proc/PID/ns/net and
    /proc/PID/cgroup of every process; processes that exit meanwhile are skipped.

    The namespace of PID 1 is the host's: containers with host networking share it and own
    nothing there.
    """
    wanted = set(inodes)
    if not wanted:
        return {}
    files = dict((inode, []) for inode in wanted)
    try:
        init = os.stat("%s/1/ns/net" % proc).st_ino
    except OSError:
        init = None
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            inode = os.stat("%s/%s/ns/net" % (proc, entry)).st_ino
            if inode not in wanted:
                continue
            with open("%s/%s/cgroup" % (proc, entry)) as handle:
                files[inode].append((int(entry), handle.read()))
        except (IOError, OSError):
            continue
    return dict(
        (inode, None if inode == init else namespace_owner(found)) for inode, found in files.items()
    )
