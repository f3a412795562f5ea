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
    run_in_each_netns,
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
