# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to fix the keepalive values of a container's or pod's network namespace (pure).

This module_util is private to the netstack.keepalive collection; it may change at any time.

A new network namespace starts from the kernel defaults (7200/75/9), and the host's sysctl
never reaches it: a node tuned to 180 s still runs every pod at 7200 s. A write into the
running namespace (``keepalive_sysctl`` with its ``netns``, ``nsenter ... sysctl -w``)
vanishes with the container, and the next one starts from 7200 again. The fix lives in the
runtime's own setting, which gives every new namespace the values: the pod's
``securityContext.sysctls``, ``docker run --sysctl``, ``podman run --sysctl``, ``nerdctl run
--sysctl``, an ECS task definition's ``systemControls``.

``container_advice(owner, values)`` takes a namespace's ``owner`` (``_sockets._netns_owner``:
``kind``, ``runtime``, ``id``, ``short_id``, ``pod_uid``, ``task``) and the values that
pass (``{time, intvl, probes}``) and returns an advice ``{service, where, knob, set, doc,
why}`` (the keys of ``_remediation.ADVICE_KEYS``), or None when the owner is not one it knows.

``namespace_verdicts`` judges each container's namespace by the same policy as the host's
values (the profile's requirements, the path's boxes) and says what the host and the
profile have beside it; a failing one carries the advice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    passing_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._netns_owner import (
    describe,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    LINUX_DEFAULTS,
    OPTION_OF,
    PASS,
    STATUS_RANK,
    SYSCTL_NAMES,
    VALUE_NAMES,
    WARN,
    make_verdict,
    worst_status,
)

CHECK = "container_namespace"
# The checks of the host's values that a namespace's keepalive sysctls decide (its
# tcp_retries2 is no safe sysctl in Kubernetes and stays with the busy_detection checks).
NAMESPACE_CHECKS = ("kernel_limits", "middlebox_idle", "detection_time", "outage_tolerance")

DOCS = {
    "kubernetes": "https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/",
    "docker": "https://docs.docker.com/reference/cli/docker/container/run/#sysctl",
    "podman": "https://docs.podman.io/en/latest/markdown/podman-run.1.html#sysctl-name-value",
    "nerdctl": "https://github.com/containerd/nerdctl/blob/main/docs/command-reference.md"
    "#whale-blue_square-nerdctl-run",
    "ecs": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
    "task_definition_parameters.html#container_definition_systemcontrols",
}

KNOB = "net.ipv4.tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes"

# Why the runtime, and not the host or the running namespace: said once for every advice.
WHY = (
    "a container's network namespace starts from the kernel defaults (7200/75/9) and the "
    "host sysctl never reaches it; a write into the running namespace vanishes with the "
    "container, so the runtime must give every new one these values"
)


def _pairs(values):
    """``[(sysctl name, value)]`` in the kernel's order: time, intvl, probes."""
    return [(SYSCTL_NAMES[name], values[name]) for name in VALUE_NAMES]


def _run_flags(command, values):
    """``<command> --sysctl a=1 --sysctl b=2 --sysctl c=3 ...``: the flags of ``run``."""
    flags = " ".join("--sysctl %s=%d" % pair for pair in _pairs(values))
    return "%s %s ..." % (command, flags)


def _advice(service, where, value, doc, why):
    return {"service": service, "where": where, "knob": KNOB, "set": value, "doc": doc, "why": why}


def pod_advice(owner, values):
    """Kubernetes: the pod's own sysctls, safe (allowed by default) since 1.29."""
    listed = ", ".join('{name: %s, value: "%d"}' % pair for pair in _pairs(values))
    return _advice(
        describe(owner),
        "the pod spec (its Deployment, StatefulSet, ... template): spec.securityContext.sysctls",
        "securityContext: {sysctls: [%s]}" % listed,
        DOCS["kubernetes"],
        "%s; the three keepalive sysctls are safe sysctls since Kubernetes 1.29 (before, the "
        "kubelet must allow them with --allowed-unsafe-sysctls)" % WHY,
    )


def docker_advice(owner, values):
    return _advice(
        describe(owner),
        "the container's run options (docker run, compose sysctls:, an ECS task "
        "definition's systemControls)",
        _run_flags("docker run", values),
        DOCS["docker"],
        "%s; not with --network host, which shares the host's namespace" % WHY,
    )


def podman_advice(owner, values):
    return _advice(
        describe(owner),
        "the container's run options (podman run, a quadlet's Sysctl=), or default_sysctls "
        "in containers.conf for every container",
        _run_flags("podman run", values),
        DOCS["podman"],
        "%s; a pod's containers share its namespace: set them on podman pod create" % WHY,
    )


def containerd_advice(owner, values):
    return _advice(
        describe(owner),
        "the container's run options (nerdctl run, or linux.sysctl in its OCI spec)",
        _run_flags("nerdctl run", values),
        DOCS["nerdctl"],
        "%s; ctr has no such flag: the OCI spec's linux.sysctl carries them" % WHY,
    )


def ecs_advice(owner, values):
    listed = ", ".join('{"namespace": "%s", "value": "%d"}' % pair for pair in _pairs(values))
    return _advice(
        describe(owner),
        "the task definition's container definitions: systemControls",
        '"systemControls": [%s]' % listed,
        DOCS["ecs"],
        "%s; in awsvpc mode they apply to every container of the task, not with host "
        "network mode" % WHY,
    )


# runtime -> advisor for a container outside a pod. CRI-O runs pods only.
RUNTIME_ADVISORS = {
    "docker": docker_advice,
    "podman": podman_advice,
    "containerd": containerd_advice,
}


def container_advice(owner, values):
    """The runtime's own setting for the namespace ``owner`` holds, or None.

    A pod (a ``pod_uid``) is fixed in its spec whatever runtime runs it; an ECS task in
    its task definition; a lone container by its runtime's run options.
    """
    if not owner or values is None:
        return None
    if owner.get("pod_uid"):
        return pod_advice(owner, values)
    if owner.get("task"):
        return ecs_advice(owner, values)
    advisor = RUNTIME_ADVISORS.get(owner.get("runtime"))
    if advisor is None or not owner.get("short_id"):
        return None
    return advisor(owner, values)


def namespace_values(entry):
    """``{time, intvl, probes}`` of a namespace entry of the sockets audit, or None when one
    of them could not be read."""
    values = dict((name, entry.get(OPTION_OF[name])) for name in VALUE_NAMES)
    return None if None in values.values() else values


def _triple(values):
    if values is None:
        return "unknown"
    return "%(time)s/%(intvl)s/%(probes)s" % values


def namespace_verdicts(namespaces, path, profile=None, profiles=None):
    """One ``container_namespace`` verdict per namespace that a container or pod owns.

    ``namespaces`` maps ids to the entries of the sockets audit (their values, ``owner``,
    ``current`` for the host's own). The namespace's values are judged like the host's
    (``NAMESPACE_CHECKS`` of the policy engine, against ``profile`` and ``path``); the
    message puts the host's values and the profile's beside them, and a verdict that does
    not pass carries ``container_advice`` for the values the profile wants.
    """
    host = next((namespace_values(e) for e in namespaces.values() if e.get("current")), None)
    wanted = passing_values(path, profile, profiles)
    found = []
    for ns_id in sorted(namespaces):
        entry = namespaces[ns_id]
        if entry.get("owner") and not entry.get("current"):
            found.append(_namespace_verdict(ns_id, entry, host, wanted, path, profile, profiles))
    return found


def _namespace_verdict(ns_id, entry, host, wanted, path, profile, profiles):
    owner = entry["owner"]
    values = namespace_values(entry)
    subject = "%s [%s]" % (describe(owner), ns_id)
    where = "%s: tcp_keepalive %s%s, the host %s, %s %s" % (
        subject,
        _triple(values),
        " (the kernel defaults)" if values == LINUX_DEFAULTS else "",
        _triple(host),
        "the path needs" if profile is None else "the profile wants",
        _triple(wanted),
    )
    if values is None:
        status, problems = WARN, ["its sysctls could not be read"]
    else:
        judged = [
            v
            for v in policy.verdicts(values, path, profile, profiles=profiles)
            if v["check"] in NAMESPACE_CHECKS
        ]
        status = worst_status([v["status"] for v in judged], default=PASS)
        problems = [v["message"] for v in judged if STATUS_RANK[v["status"]] > STATUS_RANK[PASS]]
    message = where + (": " + "; ".join(problems) if problems else ": passes")
    verdict = make_verdict(
        CHECK,
        subject,
        status,
        None if values is None else values["time"],
        None if wanted is None else wanted["time"],
        message,
    )
    advice = container_advice(owner, wanted)
    if status != PASS and advice is not None:
        verdict["advice"] = advice
    return verdict


def container_namespaces(namespaces, wanted):
    """The host report's ``containers``: per namespace a container or pod owns, its values
    beside the host's and the ``wanted`` ones (the profile's, None when there are none), and
    the runtime's setting when they differ. ``namespaces`` is the sockets audit's map."""
    if not isinstance(namespaces, dict):
        return []
    if wanted is not None:
        wanted = dict((name, wanted.get(name)) for name in VALUE_NAMES)
    entries = [e for e in namespaces.values() if isinstance(e, dict)]
    host = next((namespace_values(e) for e in entries if e.get("current")), None)
    found = []
    for ns_id in sorted(namespaces):
        entry = namespaces[ns_id]
        owner = entry.get("owner") if isinstance(entry, dict) else None
        if not owner or entry.get("current"):
            continue
        values = namespace_values(entry)
        differs = wanted is not None and values != wanted
        found.append(
            {
                "netns": ns_id,
                "owner": owner.get("label") or describe(owner),
                "kind": owner.get("kind"),
                "runtime": owner.get("runtime"),
                "id": owner.get("short_id"),
                "pod_uid": owner.get("pod_uid"),
                "values": values,
                "host": host,
                "wanted": wanted,
                "advice": container_advice(owner, wanted) if differs else None,
            }
        )
    return found
