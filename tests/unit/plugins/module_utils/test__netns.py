"""Enumerating and entering every network namespace of the host (real namespaces)."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import (
    list_namespaces,
    namespace_id,
    netns_inode,
    resolve_netns,
    run_in_each_netns,
)

ALLOWED = (
    "allowed: a name in /run/netns (see 'ip netns list') or an absolute path to an nsfs file "
    "of a network namespace such as /proc/PID/ns/net"
)


@pytest.fixture
def named_netns():
    name = "ut-ns-%s" % uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.mark.parametrize(
    "inode, names, expected",
    [
        (4026531840, [], "net:[4026531840]"),
        (4026532001, ["blue"], "blue"),
        (4026532001, ["blue", "alias"], "blue"),
    ],
)
def test_namespace_id(inode, names, expected):
    assert namespace_id(inode, names) == expected


def test_list_namespaces_has_ours_and_a_named_one_once(named_netns):
    found = list_namespaces()
    inodes = [entry["inode"] for entry in found]
    assert len(inodes) == len(set(inodes))
    assert netns_inode() in inodes
    (named,) = [entry for entry in found if named_netns in entry["names"]]
    assert named["path"] == "/run/netns/" + named_netns  # the bind mount outlives processes
    assert named["inode"] == os.stat("/run/netns/" + named_netns).st_ino


def test_list_namespaces_finds_a_process_only_namespace():
    # unshare --net without a name: only /proc/PID/ns/net leads to it
    proc = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        for _try in range(100):
            inode = os.stat("/proc/%d/ns/net" % proc.pid).st_ino
            if inode != netns_inode():
                break
            subprocess.run(["sleep", "0.02"], check=True)
        entries = [entry for entry in list_namespaces() if entry["inode"] == inode]
        assert entries and entries[0]["names"] == []
        assert entries[0]["path"].endswith("/ns/net")
    finally:
        proc.kill()
        proc.wait()


def _read_time():
    with open("/proc/sys/net/ipv4/tcp_keepalive_time") as handle:
        return int(handle.read())


def test_run_in_each_netns_reads_each_namespace_and_returns_errors(named_netns):
    subprocess.run(
        ["ip", "netns", "exec", named_netns, "sysctl", "-qw", "net.ipv4.tcp_keepalive_time=321"],
        check=True,
    )
    outcomes = run_in_each_netns([None, "/run/netns/" + named_netns, "/nonexistent"], _read_time)
    assert outcomes[0] == (True, _read_time())
    assert outcomes[1] == (True, 321)
    ok, error = outcomes[2][0], outcomes[2][1]
    assert ok is False and isinstance(error, KeepaliveError)
    assert "cannot open it" in str(error)


def test_resolve_netns_accepts_names_and_namespace_files(named_netns):
    assert resolve_netns(named_netns) == "/run/netns/" + named_netns
    assert resolve_netns("/run/netns/" + named_netns) == "/run/netns/" + named_netns
    assert resolve_netns("/proc/self/ns/net") == "/proc/self/ns/net"
    assert resolve_netns(None) is None and resolve_netns("") is None


@pytest.mark.parametrize(
    "netns, reason",
    [
        ("/etc/passwd", "/etc/passwd is not a network namespace (it is not a namespace file"),
        ("/proc/self/ns/mnt", "is not a network namespace (it is a namespace of another type)"),
        ("/proc/self/ns", "is not a network namespace (it is a directory)"),
        ("/dev/null", "is not a network namespace (it is a character device)"),
        ("..", "is not a namespace name"),
        (".", "is not a namespace name"),
        (" blue", "is not a namespace name"),
        ("proc/self/ns/net", "is not a plain absolute path"),
        ("/proc/self/../self/ns/net", "is not a plain absolute path"),
        ("no such ns", "no such network namespace (looked for /run/netns/no such ns)"),
        ("/nonexistent/ns", "no such network namespace (looked for /nonexistent/ns)"),
        (5, "is not a string"),
    ],
)
def test_resolve_netns_refuses_what_is_not_a_network_namespace(netns, reason):
    with pytest.raises(KeepaliveError) as err:
        resolve_netns(netns)
    message = str(err.value)
    assert message.startswith("netns=%r" % (netns,)) and reason in message
    assert message.endswith(ALLOWED) and err.value.details["option"] == "netns"
    assert "privilege" not in message and "CAP_SYS_ADMIN" not in message


def test_resolve_netns_of_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "ns"
    os.mkfifo(fifo)
    with pytest.raises(KeepaliveError) as err:
        resolve_netns(str(fifo))
    assert "is not a network namespace (it is a FIFO (named pipe))" in str(err.value)
