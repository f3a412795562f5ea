#!/usr/bin/env python
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lab of real Linux hosts made of namespaces, for the integration tests (stdlib only).

Each host has its own network namespace (so its own ``net.ipv4.tcp_keepalive_*``), its own
mount/UTS/IPC/PID namespaces, an overlay root over the real ``/`` whose upper dir is the host's
private disk (it survives ``reboot``), a read-only ``/proc/sys`` except ``/proc/sys/net``, and an
sshd on its veth address, reachable from the machine (the controller) over a bridge.
See README.md beside this file.

    python3 tests/lab/lab.py [--state-dir DIR] [--bridge NAME] [--subnet 10.x.y] [--prefix P]
        up N | down | reboot NAME | ssh NAME [cmd...] | run NAME cmd... | inventory | status

Everything one lab makes is named after its prefix (netns and veth ``<prefix>-h<i>``, bridge
``<prefix>br0``) and its processes carry ``NETSTACK_LAB_STATE=<state dir>`` in their
environment, so ``down`` finds all of it even after a crash of the process that ran ``up``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
INIT_SCRIPT = HERE / "host-init.sh"
DEFAULT_PREFIX = "nk"
DEFAULT_SUBNET = "10.231.0"
STATE_ENV = "NETSTACK_LAB_STATE"
HOST_ENV = "NETSTACK_LAB_HOST"
MAX_HOSTS = 200
SSH_PORT = 22
BOOT_TIMEOUT = 30.0
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SSH_OPTIONS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
    "-o IdentitiesOnly=yes -o ConnectTimeout=10"
)


class LabError(RuntimeError):
    """Something the lab could not do; the message says what and how to recover."""


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    netns: str
    port: int = SSH_PORT


# ---------------------------------------------------------------------------------------------
# Small helpers around processes, /proc and iproute2


def _run(argv, check=True, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs, check=False)
    if check and result.returncode != 0:
        raise LabError(
            "%s failed (rc=%d): %s" % (shlex.join(argv), result.returncode, result.stderr.strip())
        )
    return result


def _ip_batch(lines, netns=None):
    """Run several iproute2 commands in one process (much faster than one ``ip`` each)."""
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    _run(argv, input="\n".join(lines) + "\n")


def _pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _is_alive(pid):
    """True unless the process is gone or a zombie (PID 1 here may never reap orphans)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as env:
            entries = env.read().split(b"\0")
    except OSError:
        return {}
    pairs = (entry.decode("utf-8", "replace").partition("=") for entry in entries if entry)
    return {key: value for key, _sep, value in pairs}


def _netns_inode_of_pid(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except OSError:
        return None


def _ns_pid_chain(pid):
    """The pid of a process as seen from each nested PID namespace (``NSpid`` of status)."""
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def _children_of(pid):
    children = []
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as listing:
                children += [int(child) for child in listing.read().split()]
    return children


def _netns_names():
    out = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _link_names():
    out = _run(["ip", "-o", "link", "show"]).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def _ssh_banner(address, port, timeout=0.5):
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


@contextlib.contextmanager
def _signals_deferred():
    """Keep Ctrl-C / SIGTERM from cutting a cleanup in half (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def default_subnet(prefix):
    """A /24 (three octets) derived from the prefix, so two prefixes do not share a subnet."""
    if prefix == DEFAULT_PREFIX:
        return DEFAULT_SUBNET
    digest = zlib.crc32(prefix.encode())
    return "10.%d.%d" % (200 + digest % 50, (digest // 50) % 256)


# ---------------------------------------------------------------------------------------------
# The lab


class Lab:
    """A fleet of namespace hosts; see the module docstring. Every parameter is optional."""

    def __init__(self, state_dir=None, bridge=None, subnet=None, prefix=None):
        if prefix is None and state_dir is not None:
            prefix = self._saved_params(Path(state_dir)).get("prefix")
        self.prefix = prefix or DEFAULT_PREFIX
        if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", self.prefix):
            raise LabError(
                "prefix=%r: use 1-8 lower-case letters/digits, starting with a "
                "letter (interface names are limited to 15 characters)" % self.prefix
            )
        self.state_dir = Path(state_dir or REPO_ROOT / ".cache" / "lab" / self.prefix).resolve()
        saved = self._saved_params(self.state_dir)
        self.bridge = bridge or saved.get("bridge") or "%sbr0" % self.prefix
        self.subnet = subnet or saved.get("subnet") or default_subnet(self.prefix)
        self._check_params(saved)
        self._children = {}  # name -> Popen of hosts this process booted (so it can reap them)

    # -- parameters and state ------------------------------------------------------------

    @staticmethod
    def _saved_params(state_dir):
        try:
            return json.loads((state_dir / "lab.json").read_text())
        except (OSError, ValueError):
            return {}

    def _check_params(self, saved):
        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]{0,14}", self.bridge):
            raise LabError("bridge=%r: not a valid interface name (max 15 chars)" % self.bridge)
        octets = self.subnet.split(".")
        if len(octets) != 3 or not all(o.isdigit() and int(o) < 256 for o in octets):
            raise LabError(
                "subnet=%r: give the first three octets of a /24, e.g. 10.231.0" % self.subnet
            )
        for key in ("prefix", "bridge", "subnet"):
            if saved.get(key) not in (None, getattr(self, key)):
                raise LabError(
                    "%s=%r differs from %r recorded in %s; use the same parameters "
                    "as for 'up', or another --state-dir"
                    % (key, getattr(self, key), saved[key], self.state_dir / "lab.json")
                )

    @property
    def key_path(self):
        return self.state_dir / "id_ed25519"

    @property
    def inventory_path(self):
        return self.state_dir / "inventory.yml"

    @property
    def hosts(self):
        """The hosts of the last ``up`` (empty when the lab is down)."""
        saved = self._saved_params(self.state_dir)
        return [self._host(index) for index in range(1, saved.get("count", 0) + 1)]

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(
            "no host %r in lab %r (hosts: %s)"
            % (name, self.prefix, ", ".join(h.name for h in self.hosts) or "none")
        )

    def _host(self, index):
        name = "%s-h%d" % (self.prefix, index)
        return LabHost(name=name, address="%s.%d" % (self.subnet, index + 1), netns=name)

    def _mac(self, role, index):
        octets = [int(o) for o in self.subnet.split(".")]
        return "02:%02x:%02x:%02x:%02x:%02x" % (*octets, role, index)

    def _disk(self, host):
        return self.state_dir / "hosts" / host.name

    def _save_state(self, count):
        params = {
            "prefix": self.prefix,
            "bridge": self.bridge,
            "subnet": self.subnet,
            "count": count,
        }
        tmp = self.state_dir / "lab.json.tmp"
        tmp.write_text(json.dumps(params, indent=2) + "\n")
        os.replace(tmp, self.state_dir / "lab.json")

    # -- up ------------------------------------------------------------------------------

    def up(self, count):
        """Create ``count`` hosts, boot them, wait until ssh answers; returns the hosts.

        Anything going wrong, Ctrl-C and SIGTERM (turned into KeyboardInterrupt by the CLI)
        included, tears down whatever was made so far before the exception goes on.
        """
        if not 1 <= count <= MAX_HOSTS:
            raise LabError("count=%r: give 1 to %d hosts" % (count, MAX_HOSTS))
        self._refuse_collisions()
        try:
            self._remove_files()  # fresh disks, even if a crashed run left some
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._save_state(count)
            self._ensure_key()
            hosts = self.hosts
            self._create_bridge()
            for host in hosts:
                self._create_host_network(host)
            for host in hosts:
                self._boot(host)
            self._wait_for_ssh(hosts)
            self.write_inventory()
            return hosts
        except BaseException:
            self.down()
            raise

    def _refuse_collisions(self):
        if self.bridge in _link_names():
            raise LabError(
                "bridge %s already exists: lab %r is up (run 'down' first) or "
                "another job uses that name (pass --bridge)" % (self.bridge, self.prefix)
            )
        taken = [n for n in _netns_names() if re.fullmatch(re.escape(self.prefix) + r"-[hr]\d+", n)]
        if taken:
            raise LabError(
                "network namespaces %s exist already: run 'down' for prefix %r first"
                % (", ".join(taken), self.prefix)
            )
        routes = _run(
            ["ip", "-4", "route", "show", "table", "all", "root", self.subnet + ".0/24"]
        ).stdout.strip()
        if routes:
            raise LabError(
                "subnet %s.0/24 is already in use on this machine (%s); pass "
                "another --subnet" % (self.subnet, routes.splitlines()[0])
            )

    def _ensure_key(self):
        if not self.key_path.exists():
            _run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "netstack-lab-%s" % self.prefix,
                    "-f",
                    str(self.key_path),
                ]
            )

    def _create_bridge(self):
        _ip_batch(
            [
                "link add %s address %s type bridge" % (self.bridge, self._mac(0, 1)),
                "addr add %s.1/24 dev %s" % (self.subnet, self.bridge),
                "link set %s up" % self.bridge,
            ]
        )

    def _create_host_network(self, host):
        index = int(host.name.rsplit("h", 1)[1])
        # Fixed MACs on both ends: a re-created host keeps its MAC, so the controller's ARP
        # entry stays right across reboots (a new random MAC makes the first ssh hang).
        _ip_batch(
            [
                "netns add %s" % host.netns,
                "link add %s address %s type veth peer name eth0 netns %s address %s"
                % (host.name, self._mac(2, index), host.netns, self._mac(1, index)),
                "link set %s master %s up" % (host.name, self.bridge),
            ]
        )
        _ip_batch(
            [
                "link set lo up",
                "addr add %s/24 dev eth0" % host.address,
                "link set eth0 up",
                "route add default via %s.1" % self.subnet,
            ],
            netns=host.netns,
        )

    def _boot(self, host):
        disk = self._disk(host)
        disk.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": HOST_PATH,
            "LANG": "C.UTF-8",
            STATE_ENV: str(self.state_dir),
            HOST_ENV: host.name,
        }
        argv = [
            "nsenter",
            "--net=/run/netns/%s" % host.netns,
            "--",
            "unshare",
            "--mount",
            "--uts",
            "--ipc",
            "--pid",
            "--fork",
            "--kill-child=SIGKILL",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            str(INIT_SCRIPT),
            host.name,
            host.address,
            str(disk),
            str(self.key_path) + ".pub",
        ]
        with open(disk / "console.log", "ab") as console:
            console.write(b"--- boot at %s\n" % time.strftime("%H:%M:%S").encode())
            console.flush()
            self._children[host.name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )

    def _wait_for_ssh(self, hosts, timeout=BOOT_TIMEOUT):
        """Wait for every sshd's banner, then prove key login with one real ``ssh true``."""
        deadline = time.monotonic() + timeout
        pending = list(hosts)
        while pending:
            for host in list(pending):
                if _ssh_banner(host.address, host.port):
                    pending.remove(host)
                elif not self._is_running(host.name):
                    raise LabError(
                        "host %s died while booting:\n%s" % (host.name, self._console_tail(host))
                    )
            if pending and time.monotonic() > deadline:
                raise LabError(
                    "no ssh banner from %s after %.0f s:\n%s"
                    % (
                        ", ".join(h.name for h in pending),
                        timeout,
                        "\n".join(self._console_tail(h) for h in pending),
                    )
                )
            if pending:
                time.sleep(0.02)
        logins = {
            h.name: subprocess.Popen(
                self.ssh_command(h.name, "true"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for h in hosts
        }
        for name, proc in logins.items():
            _out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise LabError(
                    "ssh root@%s true failed (rc=%d): %s" % (name, proc.returncode, err.strip())
                )

    def _console_tail(self, host, lines=15):
        try:
            text = (self._disk(host) / "console.log").read_text(errors="replace")
        except OSError:
            return "%s: no console log" % host.name
        return "\n".join("  %s| %s" % (host.name, line) for line in text.splitlines()[-lines:])

    # -- processes ---------------------------------------------------------------------------

    def _lab_pids(self, host_name=None):
        """Live processes of this lab (or one host): by environment marker or netns."""
        names = [host_name] if host_name else None
        inodes = set()
        for name in _netns_names():
            if (names is None and re.fullmatch(re.escape(self.prefix) + r"-[hr]\d+", name)) or (
                names and name in names
            ):
                with contextlib.suppress(OSError):
                    inodes.add(os.stat("/run/netns/" + name).st_ino)
        found = set()
        for pid in _pids():
            env = _environ(pid)
            if env.get(STATE_ENV) == str(self.state_dir) and (
                host_name is None or env.get(HOST_ENV) == host_name
            ):
                found.add(pid)
                found.update(_children_of(pid))  # sshd overwrites its environ (proctitle)
            elif _netns_inode_of_pid(pid) in inodes:
                found.add(pid)
        return sorted(pid for pid in found if _is_alive(pid))

    def _init_pids(self, host_name):
        """PID (seen from here) of the host's PID 1: sshd once booted, host-init.sh before."""
        starters = [
            pid
            for pid in _pids()
            if _environ(pid).get(STATE_ENV) == str(self.state_dir)
            and _environ(pid).get(HOST_ENV) == host_name
        ]
        return [
            child
            for pid in starters
            for child in _children_of(pid)
            if _ns_pid_chain(child)[-1:] == [1] and _is_alive(child)
        ]

    def _is_running(self, host_name):
        """Whether the host's starter (nsenter -> unshare, which lives as long as the host's
        PID 1) is alive. Right after the start there is no PID 1 yet: do not look for it."""
        child = self._children.get(host_name)
        if child is not None:
            return child.poll() is None
        return any(_environ(pid).get(HOST_ENV) == host_name for pid in self._lab_pids(host_name))

    def _kill(self, host_name=None, timeout=10.0):
        """SIGKILL the lab's (or one host's) processes and wait until none is left alive.

        ``unshare --fork`` ignores SIGTERM, and killing it (``--kill-child``) or a PID 1 takes
        the whole PID namespace down; any straggler is found again by the next scan.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = self._lab_pids(host_name)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._reap()
            if time.monotonic() > deadline:
                raise LabError("processes %s of lab %r survive SIGKILL" % (pids, self.prefix))
            time.sleep(0.01)
        self._reap()

    def _reap(self):
        for name, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[name]

    # -- reboot, run, ssh --------------------------------------------------------------------

    def reboot(self, name, timeout=BOOT_TIMEOUT):
        """Kill the host, give it a brand-new network namespace (kernel defaults), keep its
        disk, boot it again and wait until ssh answers."""
        host = self.host(name)
        self._kill(host.name)
        self._delete_host_network(host)
        self._create_host_network(host)
        _run(["ip", "neigh", "flush", "to", host.address, "dev", self.bridge], check=False)
        self._boot(host)
        self._wait_for_ssh([host], timeout=timeout)
        return host

    def run(self, name, command, check=False, timeout=60, input=None):
        """Run ``command`` (a shell string or an argv list) inside the host: its namespaces and
        root, as its PID 1 sees them; no ssh. Returns a text ``CompletedProcess``."""
        return subprocess.run(
            self.exec_argv(name, command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            input=input,
            env=self.EXEC_ENV,
        )

    EXEC_ENV = {"PATH": HOST_PATH, "LANG": "C.UTF-8", "HOME": "/root"}

    def exec_argv(self, name, command):
        """argv that runs ``command`` (shell string or argv list) inside the host, as ``run``
        does; for a long-lived process (``subprocess.Popen(argv, env=Lab.EXEC_ENV)``)."""
        host = self.host(name)
        pids = self._init_pids(host.name)
        if not pids:
            raise LabError("host %s is not running" % host.name)
        argv = ["nsenter", "-t", str(pids[0]), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"]
        return argv + (["/bin/sh", "-c", command] if isinstance(command, str) else list(command))

    def ssh_command(self, name, *command):
        """argv of an ``ssh`` from the controller to the host (append a remote command)."""
        host = self.host(name)
        return (
            ["ssh", "-i", str(self.key_path), "-p", str(host.port), "-o", "BatchMode=yes"]
            + shlex.split(SSH_OPTIONS)
            + ["root@" + host.address]
            + list(command)
        )

    # -- inventory, status -------------------------------------------------------------------

    def write_inventory(self, host_vars=None):
        """Write the Ansible inventory (group ``lab``) and return its path.

        ``host_vars`` maps host names to extra variables; JSON values are valid YAML.
        """
        host_vars = host_vars or {}
        unknown = set(host_vars) - {h.name for h in self.hosts}
        if unknown:
            raise LabError("host_vars for unknown hosts: %s" % ", ".join(sorted(unknown)))
        lines = [
            "# Written by tests/lab/lab.py for lab %r; rewritten by every 'up'." % self.prefix,
            "all:",
            "  children:",
            "    lab:",
            "      hosts:",
        ]
        for host in self.hosts:
            variables = {
                "ansible_host": host.address,
                "ansible_port": host.port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.key_path),
                "ansible_ssh_common_args": SSH_OPTIONS,
                "ansible_python_interpreter": "/usr/bin/python3",
            }
            variables.update(host_vars.get(host.name, {}))
            lines.append("        %s:" % host.name)
            lines += ["          %s: %s" % (k, json.dumps(v)) for k, v in variables.items()]
        tmp = self.inventory_path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.inventory_path)
        return self.inventory_path

    def status(self):
        rows = []
        for host in self.hosts:
            pids = self._init_pids(host.name)
            rows.append(
                dict(
                    asdict(host),
                    pid=pids[0] if pids else None,
                    ssh=bool(pids) and _ssh_banner(host.address, host.port),
                )
            )
        return rows

    # -- down --------------------------------------------------------------------------------

    def _delete_host_network(self, host):
        # Deleting the netns removes its veth only asynchronously: delete the veth first.
        if host.name in _link_names():
            _run(["ip", "link", "del", host.name], check=False)
        if host.netns in _netns_names():
            _run(["ip", "netns", "del", host.netns])

    def down(self):
        """Remove every process, veth, namespace, bridge, mount and file of this lab.

        Works from names and markers, not from memory: a second process, or one after a crash
        or an interrupted ``up``, cleans up the same way. Safe to call when nothing is up.
        """
        with _signals_deferred():
            self._kill()
            pattern = re.compile(re.escape(self.prefix) + r"-[hr]\d+")
            links = [n for n in _link_names() if pattern.fullmatch(n) or n == self.bridge]
            # veths before their namespaces (see _delete_host_network), the bridge last; one
            # ip process for all, going on past errors (leftovers() below has the last word).
            commands = ["link del %s" % n for n in sorted(links, key=lambda n: n == self.bridge)]
            commands += ["netns del %s" % n for n in _netns_names() if pattern.fullmatch(n)]
            if commands:
                _run(["ip", "-force", "-batch", "-"], check=False, input="\n".join(commands))
            self._unmount_leftovers()
            self._remove_files()
        left = self.leftovers()
        if left:
            raise LabError("down left things behind: %s" % left)

    def _mounts_below_state_dir(self):
        with open("/proc/self/mountinfo") as mountinfo:
            points = [line.split()[4] for line in mountinfo]
        return sorted((p for p in points if p.startswith(str(self.state_dir) + "/")), reverse=True)

    def _unmount_leftovers(self):
        # Host mounts live in the hosts' own mount namespaces and vanish with them; this only
        # catches a mount that escaped into the machine's namespace by mistake.
        for point in self._mounts_below_state_dir():
            _run(["umount", "-l", point], check=False)

    def _remove_files(self):
        if not self.state_dir.is_dir():
            return
        hosts_dir = self.state_dir / "hosts"
        if hosts_dir.exists():
            _run(["rm", "-rf", "--one-file-system", str(hosts_dir)])
        for name in (
            "id_ed25519",
            "id_ed25519.pub",
            "inventory.yml",
            "inventory.tmp",
            "lab.json",
            "lab.json.tmp",
        ):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()
        with contextlib.suppress(OSError):
            self.state_dir.rmdir()  # only when empty: never delete what we did not make

    def leftovers(self):
        """What of this lab still exists (empty dict when it is fully down)."""
        pattern = re.compile(re.escape(self.prefix) + r"-[hr]\d+")
        left = {
            "processes": self._lab_pids(),
            "netns": [n for n in _netns_names() if pattern.fullmatch(n)],
            "links": [n for n in _link_names() if pattern.fullmatch(n) or n == self.bridge],
            "state": [str(self.state_dir)] if (self.state_dir / "lab.json").exists() else [],
            "mounts": self._mounts_below_state_dir(),
        }
        return {key: value for key, value in left.items() if value}


# ---------------------------------------------------------------------------------------------
# Command line


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--state-dir", help="default: <repo>/.cache/lab/<prefix>")
    parser.add_argument("--bridge", help="default: <prefix>br0")
    parser.add_argument(
        "--subnet",
        help="first three octets of a /24; default derived from "
        "the prefix (%s for %s)" % (DEFAULT_SUBNET, DEFAULT_PREFIX),
    )
    parser.add_argument(
        "--prefix", help="names of hosts, netns and veths (default %s)" % DEFAULT_PREFIX
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="create and boot N hosts").add_argument("count", type=int)
    sub.add_parser("down", help="remove everything the lab made")
    sub.add_parser("reboot", help="reboot one host (new netns, same disk)").add_argument("name")
    ssh = sub.add_parser("ssh", help="ssh into a host from the machine")
    ssh.add_argument("name")
    ssh.add_argument("remote", nargs=argparse.REMAINDER)
    run = sub.add_parser("run", help="run a command inside a host without ssh")
    run.add_argument("name")
    run.add_argument("remote", nargs=argparse.REMAINDER)
    sub.add_parser("inventory", help="(re)write the Ansible inventory and print its path")
    sub.add_parser("status", help="show hosts, PIDs and whether ssh answers")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv=None):
    args = _parser().parse_args(argv)
    # SIGINT too: a shell that starts us in the background (CI runners do) ignores SIGINT,
    # and Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        lab = Lab(
            state_dir=args.state_dir, bridge=args.bridge, subnet=args.subnet, prefix=args.prefix
        )
        if args.command == "up":
            started = time.monotonic()
            for host in lab.up(args.count):
                print("%s %s netns=%s" % (host.name, host.address, host.netns))
            print(
                "up %d hosts in %.2f s; inventory: %s"
                % (args.count, time.monotonic() - started, lab.inventory_path)
            )
        elif args.command == "down":
            lab.down()
        elif args.command == "reboot":
            started = time.monotonic()
            lab.reboot(args.name)
            print("rebooted %s in %.2f s" % (args.name, time.monotonic() - started))
        elif args.command == "ssh":
            argv = lab.ssh_command(args.name, *args.remote)
            os.execvp(argv[0], argv)
        elif args.command == "run":
            result = lab.run(args.name, args.remote)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            return result.returncode
        elif args.command == "inventory":
            print(lab.write_inventory())
        elif args.command == "status":
            for row in lab.status():
                print("%(name)s %(address)s netns=%(netns)s pid=%(pid)s ssh=%(ssh)s" % row)
    except LabError as exc:
        print("lab: error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        done = "; everything made so far was removed" if args.command == "up" else ""
        print("lab: interrupted%s" % done, file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
