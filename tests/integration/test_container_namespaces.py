"""Namespaces that containers and pods own: attribution, their values against the node's, the
runtime's fix, and keepalive_sysctl's warning for such a netns.

*** NO CONTAINER ENGINE RUNS ON THIS MACHINE. *** There is no Docker, containerd, CRI-O, Podman
or kubelet here, so this test builds what such an engine leaves behind on a node, for real:
network namespaces (``unshare --net``, and one ``ip netns add cni-<uuid>`` as a CNI plugin
names a pod's) whose processes live in real cgroups named exactly as each runtime names
them (the v2 hierarchy, and Docker's cgroupfs driver in the v1 ``pids`` hierarchy):

- ``system.slice/docker-<64 hex>.scope`` (Docker, systemd driver);
- ``kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/
  cri-containerd-<id>.scope``, a sandbox and an app container in one namespace (containerd);
- ``kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/crio-<id>.scope``;
- ``machine.slice/libpod-<id>.scope/container`` (Podman);
- v1 ``pids:/docker/<id>`` (Docker, cgroupfs driver on cgroup v1).

Each namespace holds a real TCP server (``services/tcp_holder.py``, SO_KEEPALIVE on) with a
real idle connection to it; the ids and pod UIDs are random per run. The runtime itself is
what is missing: the test cannot show that ``docker run --sysctl`` does what its manual says.

The modules run as on a node: ansible-playbook runs in a "node" namespace tuned to 180/20/3
(the machine's own sysctls are shared with other jobs and stay untouched), and every
container namespace has the kernel defaults 7200/75/9 that a new namespace starts from.
Namespaces, processes and cgroups are removed at the end, also when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from services._ansible import MANAGED_PYTHON, ansible_playbook
from services._cgroup import NamedCgroup, UnitCgroup, cgroup2_mount, remove_empty_slices, run_slice
from services._launch import Daemon, ServiceError

from ansible_collections.netstack.keepalive.plugins.module_utils._netns import (
    netns_inode,
    run_in_netns,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation_containers,
)

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)

container_advice = _remediation_containers.container_advice

HOLDER = Path(__file__).parent / "services" / "tcp_holder.py"
ADDRESS = "192.0.2.1"  # on the namespace's lo: a peer that is not loopback, as on a pod IP
PORT = 7000
APP_PORT = 7001
NODE = {"time": 180, "intvl": 20, "probes": 3}
DEFAULTS = (7200, 75, 9)
V1_PIDS = Path("/sys/fs/cgroup/pids")
SYSCTLS = "/proc/sys/net/ipv4/tcp_keepalive_"
COMM = "ctr-app"  # the comm of every container process: no service the advisor knows by name


def _hex64() -> str:
    return secrets.token_hex(32)


class Site:
    """One container or pod: its cgroups, its namespace, a holder and an idle client."""

    def __init__(self, name, cgroups, owner, named=None, app_cgroups=None):
        self.name = name
        self.cgroups = cgroups  # created before the holder starts, removed at the end
        self.app_cgroups = app_cgroups or []
        self.owner = owner  # what the module must report
        self.named = named  # /run/netns name, as a CNI plugin gives a pod's namespace
        self.pids: list[int] = []
        self.clients: list[socket.socket] = []

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.named}" if self.named else f"/proc/{self.pids[0]}/ns/net"

    @property
    def netns_id(self) -> str:
        return self.named or "net:[%d]" % netns_inode(self.netns_path)


def _owner(kind, runtime, cid, pod_uid=None, containers=None, label=None):
    return {
        "kind": kind,
        "runtime": runtime,
        "id": cid,
        "short_id": cid[:12],
        "pod_uid": pod_uid,
        "task": None,
        "containers": sorted(containers or [cid]),
        "label": label,
    }


def build_sites(mount: Path, slice_dir: Path) -> list[Site]:
    docker, sandbox, app, crio, podman, v1 = (_hex64() for _site in range(6))
    uid_c, uid_o = str(uuid.uuid4()), str(uuid.uuid4())
    containerd_pod = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice" % (
        uid_c.replace("-", "_")
    )
    crio_pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice" % (
        uid_o.replace("-", "_")
    )
    return [
        Site(
            "docker",
            [NamedCgroup(mount, f"system.slice/docker-{docker}.scope")],
            _owner("container", "docker", docker, label="Docker container " + docker[:12]),
        ),
        Site(
            "containerd-pod",
            [NamedCgroup(mount, f"{containerd_pod}/cri-containerd-{sandbox}.scope")],
            _owner(
                "pod",
                "containerd",
                sandbox,
                uid_c,
                [sandbox, app],
                "Kubernetes pod %s (containerd)" % uid_c,
            ),
            named="cni-%s" % uuid.uuid4(),
            app_cgroups=[NamedCgroup(mount, f"{containerd_pod}/cri-containerd-{app}.scope")],
        ),
        Site(
            "crio-pod",
            [NamedCgroup(mount, f"{crio_pod}/crio-{crio}.scope")],
            _owner("pod", "cri-o", crio, uid_o, label="Kubernetes pod %s (CRI-O)" % uid_o),
        ),
        Site(
            "podman",
            [NamedCgroup(mount, f"machine.slice/libpod-{podman}.scope/container")],
            _owner("container", "podman", podman, label="Podman container " + podman[:12]),
        ),
        Site(
            "docker-cgroupfs-v1",
            # its v2 cgroup names no runtime: the v1 line of /proc/PID/cgroup must be read
            [UnitCgroup(slice_dir, "v1-container.service"), NamedCgroup(V1_PIDS, f"docker/{v1}")],
            _owner("container", "docker", v1, label="Docker container " + v1[:12]),
        ),
    ]


def _joiner(cgroups):
    def join() -> None:
        for cgroup in cgroups:
            cgroup.join_self()

    return join


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def start(site: Site, app: Path, log: Path) -> None:
    """The sandbox holder in a new namespace (the pod's app container joins it), each in its
    cgroups before it execs, and one idle client connection to each."""
    serve = f"{app} {HOLDER} %d --keepalive --address {ADDRESS}"
    if site.named:
        _ip("netns", "add", site.named)
        _ip("-n", site.named, "link", "set", "lo", "up")
        _ip("-n", site.named, "addr", "add", ADDRESS + "/32", "dev", "lo")
        argv = ["nsenter", f"--net={site.netns_path}", "--", *(serve % PORT).split()]
    else:
        setup = f"ip link set lo up && ip addr add {ADDRESS}/32 dev lo && exec {serve % PORT}"
        argv = ["unshare", "--net", "--", "sh", "-c", setup]
    site.pids.append(_spawn(argv, site.cgroups, log))
    site.clients.append(_connect(site.netns_path, PORT))
    if site.app_cgroups:
        argv = ["nsenter", f"--net={site.netns_path}", "--", *(serve % APP_PORT).split()]
        site.pids.append(_spawn(argv, site.app_cgroups, log))
        site.clients.append(_connect(site.netns_path, APP_PORT))


def _spawn(argv, cgroups, log: Path) -> int:
    for cgroup in cgroups:
        cgroup.create()
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv built here
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_joiner(cgroups),  # noqa: PLW1509 - the cgroup must hold it before exec
            start_new_session=True,
        )
    return proc.pid  # unshare and nsenter exec: the pid is the holder's


def _connect(netns_path: str, port: int) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        try:
            return run_in_netns(netns_path, socket.create_connection, (ADDRESS, port), 2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _read(netns_path: str) -> tuple[int, int, int]:
    def read():
        return tuple(int(Path(SYSCTLS + name).read_text()) for name in ("time", "intvl", "probes"))

    return run_in_netns(netns_path, read)


def _write_node(netns_path: str) -> None:
    def write():
        for name, value in NODE.items():
            Path(SYSCTLS + name).write_text(str(value))

    run_in_netns(netns_path, write)


def run_in_node(node: str, cases: dict, workdir: Path, cgroup: UnitCgroup) -> dict:
    """ansible-playbook inside the node's namespace (``Daemon.start(netns=...)``), every case
    one task with ignore_errors, as ``services._ansible.run_module_cases`` does on the host."""

    results = workdir / "module-results.json"
    playbook = workdir / "module-cases.yml"
    playbook.write_text(json.dumps(_playbook_for(cases, results)))
    env = dict(os.environ, ANSIBLE_HOME=str(workdir / "ansible-home"), ANSIBLE_NOCOLOR="1")
    argv = [
        ansible_playbook(),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={MANAGED_PYTHON}",
        str(playbook),
    ]
    run = Daemon(cgroup, argv, workdir / "ansible-playbook.log", env=env)
    run.start(netns=node)
    try:
        returncode = run.proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        returncode = "timeout after 120 s"
    finally:
        run.stop()
    if returncode != 0 or not results.exists():
        raise ServiceError(f"ansible-playbook failed ({returncode}):\n{run.log_tail(60)}")
    return json.loads(results.read_text())


def _playbook_for(cases: dict, results: Path) -> list:
    """One task per case ``{name: (module, args, check_mode)}``, then one saving them all."""
    tasks = [
        {
            "name": name,
            module: args,
            "register": f"case_{name}",
            "check_mode": check_mode,
            "ignore_errors": True,
        }
        for name, (module, args, check_mode) in cases.items()
    ]
    collected = ", ".join(f"'{name}': case_{name}" for name in cases)
    tasks.append(
        {
            "name": "Save every case's result for the test",
            "ansible.builtin.copy": {
                "content": "{{ {%s} | to_json }}" % collected,
                "dest": str(results),
            },
            "check_mode": False,
        }
    )
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """Every site up, the node tuned, the modules run once; everything removed at the end."""
    if os.geteuid() != 0:
        pytest.fail("this test makes namespaces and cgroups: run it as root")
    workdir = tmp_path_factory.mktemp("containers")
    tag = "c" + secrets.token_hex(3)
    slice_dir = run_slice(tag)
    sites = build_sites(cgroup2_mount(), slice_dir)
    node_name = "ctrnode-" + tag
    app = workdir / COMM
    app.symlink_to(MANAGED_PYTHON)
    ansible = UnitCgroup(slice_dir, "ansible-run.service")
    try:
        _ip("netns", "add", node_name)
        _write_node(f"/run/netns/{node_name}")
        for site in sites:
            start(site, app, workdir / f"{site.name}.log")
        docker, pod = sites[0], sites[1]
        ansible.create()
        cases = {
            "audit": (
                "netstack.keepalive.keepalive_sockets_info",
                {"path": ["azure_lb_standard"], "profile": "cloud", "ports": [PORT, APP_PORT]},
                False,
            ),
            "sysctl_check": (
                "netstack.keepalive.keepalive_sysctl",
                {"netns": docker.netns_path, "persist": False, **_options(NODE)},
                True,
            ),
            "sysctl_pod": (
                "netstack.keepalive.keepalive_sysctl",
                {"netns": pod.named, "persist": False, "tcp_keepalive_time": 180},
                False,
            ),
            "sysctl_node": (
                "netstack.keepalive.keepalive_sysctl",
                {"netns": node_name, "persist": False, **_options(NODE)},
                True,
            ),
        }
        before = {site.name: _read(site.netns_path) for site in sites}
        results = run_in_node(node_name, cases, workdir, ansible)
        after = {site.name: _read(site.netns_path) for site in sites}
        yield {"sites": sites, "results": results, "before": before, "after": after}
    finally:
        _teardown(sites, node_name, ansible, slice_dir)


def _options(values: dict) -> dict:
    return {"tcp_keepalive_" + name: value for name, value in values.items()}


def _teardown(sites, node_name, ansible, slice_dir) -> None:
    """Undo in the reverse order of creation (a site removes the parents it created, the
    first pod made kubepods.slice, only after the later sites left them), every step even
    when one fails; then prove nothing is left."""
    errors = []
    steps = []
    for site in reversed(sites):
        steps += [client.close for client in site.clients]
        # the v2 kill ends the v1 members too
        steps += [cgroup.remove for cgroup in reversed(site.cgroups + site.app_cgroups)]
        if site.named:
            steps.append(lambda name=site.named: _delete_netns(name))
    steps += [
        ansible.remove,
        lambda: _delete_netns(node_name),
        lambda: remove_empty_slices(slice_dir),
    ]
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - every step runs, the first error is raised
            errors.append(exc)
    left = [str(path) for path in _made_paths(sites, node_name) if path.exists()]
    left += [str(pid) for site in sites for pid in site.pids if Path(f"/proc/{pid}").exists()]
    if errors:
        raise errors[0]
    assert not left, f"left behind: {left}"


def _delete_netns(name: str) -> None:
    if os.path.exists(f"/run/netns/{name}"):
        _ip("netns", "del", name)


def _made_paths(sites, node_name) -> list[Path]:
    paths = [Path(f"/run/netns/{node_name}")]
    for site in sites:
        for cgroup in site.cgroups + site.app_cgroups:
            paths += [cgroup.path, *getattr(cgroup, "created", [])]
        if site.named:
            paths.append(Path(f"/run/netns/{site.named}"))
    return paths


def test_the_sites_are_what_a_runtime_leaves(node):
    """The premise, measured: each namespace starts at the kernel defaults, the node at 180."""
    for site in node["sites"]:
        assert node["before"][site.name] == DEFAULTS, site.name
        text = Path(f"/proc/{site.pids[0]}/cgroup").read_text()
        memberships = [line.split(":", 2)[1:] for line in text.splitlines()]
        for cgroup in site.cgroups:
            assert _membership(cgroup) in memberships, (cgroup.path, text)


def _membership(cgroup) -> list[str]:
    """``[controllers, path]`` of the /proc/PID/cgroup line a member of ``cgroup`` has."""
    if cgroup.path.is_relative_to(V1_PIDS):
        return ["pids", "/%s" % cgroup.path.relative_to(V1_PIDS)]
    return ["", "/%s" % cgroup.path.relative_to(cgroup2_mount())]


def test_each_namespace_is_attributed_to_its_runtime(node):
    audit = node["results"]["audit"]
    assert not audit.get("failed"), audit.get("msg")
    namespaces = audit["namespaces"]
    for site in node["sites"]:
        entry = namespaces[site.netns_id]
        assert entry["owner"] == site.owner, site.name
        values = (
            entry["tcp_keepalive_time"],
            entry["tcp_keepalive_intvl"],
            entry["tcp_keepalive_probes"],
        )
        assert values == DEFAULTS
    node_entry = next(entry for entry in namespaces.values() if entry["current"])
    assert node_entry["owner"] is None
    assert node_entry["tcp_keepalive_time"] == NODE["time"]
    machine = netns_inode("/proc/self/ns/net")  # this machine's own namespace
    assert [e["owner"] for e in namespaces.values() if e["inode"] == machine] == [None]


def test_each_container_namespace_fails_with_its_runtimes_fix(node):
    verdicts = node["results"]["audit"]["verdicts"]
    for site in node["sites"]:
        subject = "%s [%s]" % (site.owner["label"], site.netns_id)
        (verdict,) = [
            v for v in verdicts if v["check"] == "container_namespace" and v["subject"] == subject
        ]
        assert verdict["status"] == "fail"
        assert (verdict["value"], verdict["limit"]) == (7200, 180)
        assert verdict["message"].startswith(
            subject + ": tcp_keepalive 7200/75/9 (the kernel defaults), the host 180/20/3, "
            "the profile wants 180/20/3: Azure Load Balancer (Standard)"
        ), verdict["message"]
        assert verdict["advice"] == container_advice(site.owner, NODE)


def test_container_socket_groups_carry_the_owner_and_the_runtime_fix(node):
    audit = node["results"]["audit"]
    for site in node["sites"]:
        rows = [
            row
            for row in audit["summary"]
            if row["netns"] == site.netns_id
            and row["comm"] == COMM
            and row["state"] == "established"
        ]
        # one group per container (a pod's sandbox and app container have a scope each),
        # under the unit systemd would show: the innermost .scope or .service
        assert sorted(row["unit"] for row in rows) == sorted(
            _unit(cgroup) for cgroup in site.cgroups[:1] + site.app_cgroups
        ), (site.name, rows)
        for row in rows:
            assert audit["namespaces"][row["netns"]]["owner"] == site.owner
            assert (row["idle"], row["intvl"], row["cnt"], row["count"]) == (*DEFAULTS, 1)
        subjects = ["%s %s [%s] established" % (row["unit"], COMM, site.netns_id) for row in rows]
        idle = [
            v
            for v in audit["verdicts"]
            if v["check"] == "socket_idle" and v["subject"].startswith(tuple(subjects))
        ]
        assert len(idle) == len(rows) and all(v["status"] == "fail" for v in idle), idle
        assert all(v["advice"] == container_advice(site.owner, NODE) for v in idle)
    docker = node["sites"][0]
    advice = container_advice(docker.owner, NODE)
    assert advice["set"] == (
        "docker run --sysctl net.ipv4.tcp_keepalive_time=180 --sysctl "
        "net.ipv4.tcp_keepalive_intvl=20 --sysctl net.ipv4.tcp_keepalive_probes=3 ..."
    )


def _unit(cgroup) -> str:
    return next(
        part for part in reversed(cgroup.path.parts) if part.endswith((".scope", ".service"))
    )


def test_keepalive_sysctl_warns_for_a_container_netns(node):
    docker, pod = node["sites"][0], node["sites"][1]
    check = node["results"]["sysctl_check"]
    assert not check.get("failed"), check.get("msg")
    fix = container_advice(docker.owner, NODE)
    assert (
        "netns=%s belongs to %s: a value set in its namespace vanishes with the container "
        "(the next one starts from the kernel defaults 7200/75/9, and the host's sysctl never "
        "reaches it); set them in the runtime: %s: %s (%s)"
        % (docker.netns_path, docker.owner["label"], fix["where"], fix["set"], fix["doc"])
    ) in check["warnings"]
    assert check["changed"] is True  # what it would do: the runtime values of that namespace
    assert node["after"]["docker"] == DEFAULTS  # check mode changed nothing

    applied = node["results"]["sysctl_pod"]
    assert not applied.get("failed"), applied.get("msg")
    pod_fix = container_advice(pod.owner, {"time": 180, "intvl": 75, "probes": 9})
    assert any(
        w.startswith(
            "netns=%s belongs to Kubernetes pod %s (containerd)" % (pod.named, pod.owner["pod_uid"])
        )
        and w.endswith(
            "set them in the runtime: %s: %s (%s)"
            % (pod_fix["where"], pod_fix["set"], pod_fix["doc"])
        )
        for w in applied["warnings"]
    ), applied["warnings"]
    assert node["after"]["containerd-pod"] == (180, 75, 9)  # set, not refused

    control = node["results"]["sysctl_node"]
    assert not control.get("failed"), control.get("msg")
    assert not any("belongs to" in w for w in control.get("warnings", []))


def test_the_host_report_lists_the_containers(node):
    """The role's host report of this node, built from the module's real result."""
    audit = node["results"]["audit"]
    report = host_report(
        plan_values("cloud", ["azure_lb_standard"]), "node", "audit", sockets=audit
    )
    listed = {entry["netns"]: entry for entry in report["containers"]}
    for site in node["sites"]:
        entry = listed[site.netns_id]
        assert (entry["owner"], entry["runtime"], entry["pod_uid"]) == (
            site.owner["label"],
            site.owner["runtime"],
            site.owner["pod_uid"],
        )
        assert entry["values"] == {"time": 7200, "intvl": 75, "probes": 9}
        assert entry["host"] == entry["wanted"] == NODE
        assert entry["advice"] == container_advice(site.owner, NODE)
    failing = {v["subject"] for v in report["verdicts"] if v["check"] == "container_namespace"}
    assert {"%s [%s]" % (s.owner["label"], s.netns_id) for s in node["sites"]} <= failing
    assert report["status"] == "fail"
