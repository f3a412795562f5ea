"""keepalive_sysctl against everything a careless or hostile run could throw at a real host.

Every bad input of every option goes through Ansible to a lab host, in normal and in check
mode: each must fail, with a message that names the option, the value and what is allowed,
and leave the host exactly as it was (``_hostproof.unchanged``: every file of every sysctl.d
directory, /etc/sysctl.conf and the runtime values). Then the faults: read-only
/proc/sys/net, read-only /etc, a full disk, garbage files, runs killed with SIGKILL at
random moments, and concurrent runs; each ends in a clear error with nothing changed or in
a result that is true on the host.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hostproof import _STATE_SCRIPT as STATE_SCRIPT  # noqa: E402
from _hostproof import unchanged  # noqa: E402
import _in_host  # noqa: E402

MODULE = "netstack.keepalive.keepalive_sysctl"
OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
LOCK = "/etc/sysctl.d/.90-netstack-keepalive.conf.lock"
HEADER_LINE = "# Managed by Ansible (netstack.keepalive.keepalive_sysctl): TCP keepalive."
OPTIONS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
WANT = {"tcp_keepalive_time": 120, "tcp_keepalive_intvl": 30, "tcp_keepalive_probes": 6}
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
LAB_HOSTS = 1
pytestmark = pytest.mark.lab

# ---------------------------------------------------------------------------------------------
# Files that are not ours, made on the host before the bad inputs run.

ADMIN = "/etc/sysctl.d/10-admin.conf"
VENDOR = "/usr/lib/sysctl.d/50-pid-max.conf"
SPECIALS = {
    ADMIN: "printf 'net.ipv4.ip_forward = 1\\n' > %s",
    VENDOR: "printf 'kernel.pid_max = 4194304\\n' > %s",
    "/etc/sysctl.d/11-empty.conf": ": > %s",
    "/etc/sysctl.d/12-lookalike.conf": (
        "printf '# Managed by Ansible\\nnet.ipv4.tcp_keepalive_time = 1\\n' > %s"
    ),
    "/etc/sysctl.d/91-fifo.conf": "mkfifo %s",
    "/etc/sysctl.d/92-dir.conf": "mkdir %s",
    "/etc/sysctl.d/93-masked.conf": "ln -s /dev/null %s",
    "/etc/sysctl.d/94-dangling.conf": "ln -s /nonexistent/ka.conf %s",
    "/etc/sysctl.d/95-link.conf": "ln -s 10-admin.conf %s",
}

PATH_ALLOWED = "allowed: a *.conf file directly inside one of /etc/sysctl.d"
NOT_OURS = "allowed: a path that does not exist yet or a file this module wrote"
NOT_REGULAR = "allowed: a path that does not exist yet or a regular file this module wrote"
MODE_ALLOWED = "allowed: an octal string such as '0644', '0640' or '0600'"
NETNS_ALLOWED = "allowed: a name in /run/netns (see 'ip netns list') or an absolute path"


def _value_cases():
    """Bad values of the three keepalive options: (id, args, [substrings of the message])."""
    cases = []
    ranges = {
        "tcp_keepalive_time": ("seconds in 1..32767", 32768),
        "tcp_keepalive_intvl": ("seconds in 1..32767", 32768),
        "tcp_keepalive_probes": ("probes in 1..127", 128),
    }
    for option, (allowed, too_big) in ranges.items():
        allowed = "allowed: a whole number of " + allowed
        for label, value, says in (
            ("zero", 0, "%s=0 is out of range"),
            ("negative", -1, "%s=-1 is out of range"),
            ("too-big", too_big, "%s=" + str(too_big) + " is out of range"),
            ("huge", 10**30, "%s=" + str(10**30) + " is out of range"),
            ("true", True, "%s=True is a boolean"),
            ("false", False, "%s=False is a boolean"),
            ("float", 1.5, "%s=1.5 is not a whole number"),
            ("float-whole", 60.0, "%s=60.0 is not a whole number"),
            ("str-fraction", "1.5", "%s='1.5' is not a whole number"),
            ("str-space", "12 0", "%s='12 0' is not a whole number"),
            ("str-negative", "-5", "%s='-5' is not a whole number"),
            ("str-word", "soon", "%s='soon' is not a whole number"),
            ("str-empty", "", "%s='' is not a whole number"),
            ("str-hex", "0x10", "%s='0x10' is not a whole number"),
            ("str-exp", "1e3", "%s='1e3' is not a whole number"),
            ("str-arabic-digit", "\u0663", "%s='\u0663' is not a whole number"),
            ("list", [5], "%s=[5] is not a whole number"),
            ("dict", {"a": 1}, "%s={'a': 1} is not a whole number"),
        ):
            cases.append(("%s-%s" % (option, label), {option: value}, [says % option, allowed]))
    return cases


RETRIES2_ALLOWED = (
    "allowed: a whole number of retransmissions in 3..255 (the kernel takes 0..255; below 3 "
    "is refused)"
)
RETRIES2_WHY = "RFC 1122 asks for at least 100 s (tcp_retries2=8 or more)"


def _retries2_cases():
    """Bad values of tcp_retries2, alone and beside good keepalive values."""
    cases = []
    for label, value, says in (
        ("zero", 0, ["tcp_retries2=0 is refused: the kernel would give up", RETRIES2_WHY]),
        ("two", 2, ["after about 1.4 s of unanswered retransmissions", RETRIES2_WHY]),
        ("str-two", "2", ["tcp_retries2=2 is refused"]),
        ("too-big", 256, ["tcp_retries2=256 is out of range"]),
        ("negative", -1, ["tcp_retries2=-1 is out of range"]),
        ("huge", 2**64, ["tcp_retries2=%d is out of range" % 2**64]),
        ("true", True, ["tcp_retries2=True is a boolean"]),
        ("float", 8.0, ["tcp_retries2=8.0 is not a whole number"]),
        ("str-hex", "0x8", ["tcp_retries2='0x8' is not a whole number"]),
        ("str-word", "forever", ["tcp_retries2='forever' is not a whole number"]),
    ):
        cases.append(("tcp_retries2-" + label, {"tcp_retries2": value}, says + [RETRIES2_ALLOWED]))
    cases.append(
        ("tcp_retries2-with-keepalive", dict(WANT, tcp_retries2=1), ["tcp_retries2=1 is refused"])
    )
    cases.append(
        (
            "tcp_retries2-absent-restore",
            dict(RESTORE, tcp_retries2=300),
            ["tcp_retries2=300 is out of range", RETRIES2_ALLOWED],
        )
    )
    return cases


def _bool_case(option, value):
    return (
        "%s-%s" % (option, value),
        dict(WANT, **{option: value}),
        ["argument '%s'" % option, repr(value), "Valid booleans include"],
    )


def _path_case(label, path, says, allowed=PATH_ALLOWED, args=None):
    args = WANT if args is None else args
    separator = "" if says.startswith(":") else " "
    return (
        "path-" + label,
        dict(args, path=path),
        ["path=%r%s%s" % (path, separator, says), allowed],
    )


ABSENT = {"state": "absent"}
RESTORE = {"state": "absent", "restore_runtime": True}

CASES = (
    _value_cases()
    + _retries2_cases()
    + [
        ("no-value", {"state": "present"}, ["state is present", "tcp_keepalive_time"]),
        ("state-bad", dict(WANT, state="gone"), ["state", "gone", "present, absent"]),
        ("state-empty", dict(WANT, state=""), ["state", "present, absent"]),
        (
            "on_shadowed-bad",
            dict(WANT, on_shadowed="shrug"),
            ["on_shadowed", "shrug", "fail, warn, ignore"],
        ),
        _bool_case("persist", "maybe"),
        _bool_case("apply", "sometimes"),
        _bool_case("restore_runtime", 2),
        (
            "unknown-option",
            dict(WANT, bogus=1),
            ["Unsupported parameters", "bogus", "Supported parameters include"],
        ),
        (
            "typo-option",
            {"tcp_keepalive_tme": 60, "tcp_keepalive_intvl": 30},
            ["Unsupported parameters", "tcp_keepalive_tme", "tcp_keepalive_time"],
        ),
        # path: shape
        _path_case("outside", "/etc/keepalive.conf", "is outside the sysctl.d directories"),
        _path_case("sysctl-conf", "/etc/sysctl.conf", "is outside the sysctl.d directories"),
        _path_case("tmp", "/tmp/90-k.conf", "is outside the sysctl.d directories"),
        _path_case("subdir", "/etc/sysctl.d/sub/90-k.conf", "is outside the sysctl.d directories"),
        _path_case("the-dir", "/etc/sysctl.d", "is outside the sysctl.d directories"),
        _path_case("relative", "etc/sysctl.d/90-k.conf", "is not a plain absolute path"),
        _path_case("dotdot", "/etc/sysctl.d/../sysctl.d/90-k.conf", "is not a plain absolute path"),
        _path_case("escape", "/etc/sysctl.d/../passwd.conf", "is not a plain absolute path"),
        _path_case("trailing-slash", "/etc/sysctl.d/", "is not a plain absolute path"),
        _path_case("leading-space", " /etc/sysctl.d/90-k.conf", "is not a plain absolute path"),
        _path_case("empty", "", "is not a plain absolute path"),
        _path_case("not-conf", "/etc/sysctl.d/90-k.txt", ": only *.conf files are read at boot"),
        _path_case(
            "conf-bak", "/etc/sysctl.d/90-k.conf.bak", ": only *.conf files are read at boot"
        ),
        _path_case("hidden", "/etc/sysctl.d/.90-k.conf", ": only *.conf files are read at boot"),
        _path_case("bare-conf", "/etc/sysctl.d/.conf", ": only *.conf files are read at boot"),
        _path_case("newline", "/etc/sysctl.d/90-k.conf\n", ": only *.conf files are read at boot"),
        # path: a file that is not ours
        _path_case("admin", ADMIN, "is a file this module did not write", NOT_OURS),
        _path_case("admin-absent", ADMIN, "is a file this module did not write", NOT_OURS, ABSENT),
        _path_case(
            "admin-restore", ADMIN, "is a file this module did not write", NOT_OURS, RESTORE
        ),
        _path_case("vendor", VENDOR, "is a file this module did not write", NOT_OURS),
        _path_case(
            "vendor-absent", VENDOR, "is a file this module did not write", NOT_OURS, ABSENT
        ),
        _path_case(
            "empty-file",
            "/etc/sysctl.d/11-empty.conf",
            "is an empty file this module did not write",
            NOT_OURS,
        ),
        _path_case(
            "lookalike",
            "/etc/sysctl.d/12-lookalike.conf",
            "is a file this module did not write",
            NOT_OURS,
        ),
        # path: not a regular file
        _path_case(
            "fifo",
            "/etc/sysctl.d/91-fifo.conf",
            "is a FIFO (named pipe), not a regular file",
            NOT_REGULAR,
        ),
        _path_case(
            "fifo-absent",
            "/etc/sysctl.d/91-fifo.conf",
            "is a FIFO (named pipe)",
            NOT_REGULAR,
            ABSENT,
        ),
        _path_case(
            "dir", "/etc/sysctl.d/92-dir.conf", "is a directory, not a regular file", NOT_REGULAR
        ),
        _path_case(
            "dir-absent", "/etc/sysctl.d/92-dir.conf", "is a directory", NOT_REGULAR, ABSENT
        ),
        _path_case(
            "masked",
            "/etc/sysctl.d/93-masked.conf",
            "is a symbolic link to /dev/null (-> /dev/null): a mask",
            NOT_REGULAR,
        ),
        _path_case(
            "masked-absent",
            "/etc/sysctl.d/93-masked.conf",
            "is a symbolic link to /dev/null",
            NOT_REGULAR,
            ABSENT,
        ),
        _path_case(
            "dangling",
            "/etc/sysctl.d/94-dangling.conf",
            "is a dangling symbolic link (-> /nonexistent/ka.conf)",
            NOT_REGULAR,
        ),
        _path_case(
            "link",
            "/etc/sysctl.d/95-link.conf",
            "is a symbolic link (-> 10-admin.conf)",
            NOT_REGULAR,
        ),
        _path_case(
            "link-absent",
            "/etc/sysctl.d/95-link.conf",
            "is a symbolic link (-> 10-admin.conf)",
            NOT_REGULAR,
            ABSENT,
        ),
        # mode
        (
            "mode-0666",
            dict(WANT, mode="0666"),
            ["mode='0666' (0666) lets group or other users write", MODE_ALLOWED],
        ),
        (
            "mode-0664",
            dict(WANT, mode="0664"),
            ["mode='0664' (0664) lets group or other users write", MODE_ALLOWED],
        ),
        (
            "mode-int-0666",
            dict(WANT, mode=0o666),
            ["mode=438 (0666) lets group or other users write", MODE_ALLOWED],
        ),
        (
            "mode-7777",
            dict(WANT, mode="7777"),
            ["mode='7777' (07777) has a setuid, setgid or sticky bit", MODE_ALLOWED],
        ),
        (
            "mode-4644",
            dict(WANT, mode="4644"),
            ["mode='4644' (04644) has a setuid, setgid or sticky bit", MODE_ALLOWED],
        ),
        (
            "mode-01644",
            dict(WANT, mode="01644"),
            ["mode='01644' (01644) has a setuid", MODE_ALLOWED],
        ),
        (
            "mode-0000",
            dict(WANT, mode="0000"),
            ["mode='0000' (0000) gives the owner no read permission", MODE_ALLOWED],
        ),
        (
            "mode-0200",
            dict(WANT, mode="0200"),
            ["mode='0200' (0200) gives the owner no read permission", MODE_ALLOWED],
        ),
        (
            "mode-int-644",
            dict(WANT, mode=644),
            ["mode=644 is the decimal number 644 (mode 01204)", "quote it: '0644'", MODE_ALLOWED],
        ),
        (
            "mode-int-600",
            dict(WANT, mode=600),
            ["mode=600 is the decimal number 600", "quote it: '0600'"],
        ),
        (
            "mode-int-0",
            dict(WANT, mode=0),
            ["mode=0 (0000) gives the owner no read permission", MODE_ALLOWED],
        ),
        ("mode-int-huge", dict(WANT, mode=99999), ["mode=99999 is not a file mode", MODE_ALLOWED]),
        ("mode-negative", dict(WANT, mode=-420), ["mode=-420 is not a file mode", MODE_ALLOWED]),
        (
            "mode-symbolic",
            dict(WANT, mode="u=rw,go=r"),
            ["mode='u=rw,go=r' is not a file mode", MODE_ALLOWED],
        ),
        (
            "mode-ls",
            dict(WANT, mode="rw-r--r--"),
            ["mode='rw-r--r--' is not a file mode", MODE_ALLOWED],
        ),
        (
            "mode-two",
            dict(WANT, mode="0644 0600"),
            ["mode='0644 0600' is not a file mode", MODE_ALLOWED],
        ),
        ("mode-9", dict(WANT, mode="0999"), ["mode='0999' is not a file mode", MODE_ALLOWED]),
        ("mode-true", dict(WANT, mode=True), ["mode=True is not a file mode", MODE_ALLOWED]),
        ("mode-float", dict(WANT, mode=6.44), ["mode=6.44 is not a file mode", MODE_ALLOWED]),
        ("mode-empty", dict(WANT, mode=""), ["mode='' is not a file mode", MODE_ALLOWED]),
        # netns
        (
            "netns-passwd",
            dict(WANT, netns="/etc/passwd"),
            ["netns='/etc/passwd': /etc/passwd is not a network namespace", NETNS_ALLOWED],
        ),
        (
            "netns-mnt",
            dict(WANT, netns="/proc/self/ns/mnt"),
            ["is not a network namespace (it is a namespace of another type)", NETNS_ALLOWED],
        ),
        (
            "netns-dir",
            dict(WANT, netns="/run"),
            ["netns='/run': /run is not a network namespace (it is a directory)", NETNS_ALLOWED],
        ),
        (
            "netns-dev-null",
            dict(WANT, netns="/dev/null"),
            ["netns='/dev/null': /dev/null is not a network namespace", NETNS_ALLOWED],
        ),
        (
            "netns-fifo",
            dict(WANT, netns="/etc/sysctl.d/91-fifo.conf"),
            ["is not a network namespace (it is a FIFO (named pipe))", NETNS_ALLOWED],
        ),
        (
            "netns-missing",
            dict(WANT, netns="no-such-ns"),
            ["netns='no-such-ns': no such network namespace", NETNS_ALLOWED],
        ),
        (
            "netns-space",
            dict(WANT, netns="a b"),
            ["netns='a b': no such network namespace", NETNS_ALLOWED],
        ),
        (
            "netns-dotdot",
            dict(WANT, netns=".."),
            ["netns='..' is not a namespace name", NETNS_ALLOWED],
        ),
        (
            "netns-relative",
            dict(WANT, netns="proc/1/ns/net"),
            ["netns='proc/1/ns/net' is not a plain absolute path", NETNS_ALLOWED],
        ),
        (
            "netns-not-plain",
            dict(WANT, netns="/proc/1/ns/../ns/net"),
            ["is not a plain absolute path", NETNS_ALLOWED],
        ),
    ]
)


def _setup_specials(lab, host):
    script = " && ".join(cmd % shlex.quote(path) for path, cmd in SPECIALS.items())
    lab.run(host, script, check=True)


def _remove_specials(lab, host):
    lab.run(host, ["rm", "-rf", "--", *SPECIALS], check=True)


def _bad_input_play(host, check):
    """Each case, then the host's state read over the same connection (``raw``: no module,
    so cheap enough to prove every single case changed nothing)."""
    state = {"ansible.builtin.raw": STATE_SCRIPT, "check_mode": False}
    tasks = [dict(state, name="state before")]
    for name, args, _says in CASES:
        tasks.append({"name": name, MODULE: args, "ignore_errors": True, "check_mode": check})
        tasks.append(dict(state, name="state after " + name))
    return [{"hosts": host, "gather_facts": False, "tasks": tasks}]


def test_the_table_has_one_id_per_case():
    names = [name for name, _args, _says in CASES]
    assert len(names) == len(set(names)) and len(names) > 100, len(names)


@pytest.mark.parametrize("check", [False, True], ids=["normal", "check-mode"])
def test_every_bad_input_fails_clearly_and_changes_nothing(lab, ansible_playbook, check):
    host = lab.hosts[0].name
    ours = ansible_playbook([{"hosts": host, "gather_facts": False, "tasks": [{MODULE: WANT}]}])
    assert ours.rc == 0, ours  # our file and its lock exist: bad inputs must not touch them
    _setup_specials(lab, host)
    try:
        with unchanged(lab, [host]):
            run = ansible_playbook(_bad_input_play(host, check))
        pristine = run.task("state before", host)["stdout"]
        assert "/etc/sysctl.d/90-netstack-keepalive.conf f 644" in pristine, pristine
        failures = []
        for name, _args, says in CASES:
            result = run.task(name, host)
            missing = [text for text in says if text not in (result.msg or "")]
            state = run.task("state after " + name, host).get("stdout")
            if not result.failed or missing or result.changed or state != pristine:
                failures.append((name, result.status, result.msg, missing, state == pristine))
        assert not failures, "\n".join(map(repr, failures))
    finally:
        _remove_specials(lab, host)
    print("bad inputs: %d tried, %d clear errors, 0 changes" % (len(CASES), len(CASES)))


# ---------------------------------------------------------------------------------------------
# Faults


def _runtime(lab, host):
    done = lab.run(host, "cd /proc/sys/net/ipv4 && cat %s" % " ".join(OPTIONS), check=True)
    return dict(zip(OPTIONS, map(int, done.stdout.split()), strict=True))


def _file(lab, host, path=OURS):
    return lab.run(host, ["cat", path], check=True).stdout


def _rendered(values):
    lines = ["%s = %d" % ("net.ipv4." + o, values[o]) for o in OPTIONS if o in values]
    return (
        HEADER_LINE
        + "\n# Local edits are overwritten; change the playbook instead.\n"
        + ("\n".join(lines) + "\n")
    )


@contextlib.contextmanager
def mounted(lab, host, mount, umount):
    """A mount inside the host (its own mount namespace), always taken away again."""
    lab.run(host, mount, check=True)
    try:
        yield
    finally:
        lab.run(host, umount, check=True)


def _one(ansible_module, host, args, check=False):
    return ansible_module(MODULE, args, pattern=host, check=check).by_host[host]


def test_read_only_proc_sys_net(lab, ansible_module):
    host = lab.hosts[0].name
    assert _one(ansible_module, host, WANT).get("failed") is not True
    new = dict(WANT, tcp_keepalive_time=555)
    with mounted(
        lab,
        host,
        "mount -o remount,bind,ro /proc/sys/net",
        "mount -o remount,bind,rw /proc/sys/net",
    ):
        for check in (False, True):  # check mode says it too: the change could not happen
            with unchanged(lab, [host]):
                result = _one(ansible_module, host, new, check=check)
            assert result.failed, result.result
            assert (
                "apply=true needs to set runtime values, but /proc/sys/net/ipv4 is read-only"
                in (result.msg)
            )
            assert "allowed: apply=false" in result.msg and "nothing was changed" in result.msg
        persisted = _one(ansible_module, host, dict(new, apply=False))
    assert persisted.changed and persisted["file_changed"] and not persisted["runtime_changed"]
    assert "tcp_keepalive_time = 555" in _file(lab, host)  # the result was true
    assert _runtime(lab, host) == WANT


def test_read_only_etc(lab, ansible_module):
    host = lab.hosts[0].name
    assert not _one(ansible_module, host, WANT).failed
    new = dict(WANT, tcp_keepalive_probes=4)
    with mounted(
        lab, host, "mount --bind /etc /etc && mount -o remount,bind,ro /etc", "umount /etc"
    ):
        with unchanged(lab, [host]):
            result = _one(ansible_module, host, new)
        assert result.failed, result.result
        assert result.msg.startswith("path=%r: " % OURS), result.msg
        assert "Read-only file system" in result.msg and "nothing was changed" in result.msg
        assert "allowed: " in result.msg
        # runtime only, nothing to write under /etc: works and says so
        runtime_only = _one(ansible_module, host, dict(new, persist=False))
        assert runtime_only.changed and not runtime_only["file_changed"]
    assert _runtime(lab, host) == new and "tcp_keepalive_probes = 6" in _file(lab, host)
    assert not _one(ansible_module, host, WANT).failed


def test_full_disk(lab, ansible_module):
    """A tiny tmpfs over /etc/sysctl.d holding our file, filled up: the write fails cleanly."""
    host = lab.hosts[0].name
    assert not _one(ansible_module, host, WANT).failed
    ours = _file(lab, host)
    fill = (
        "mount -t tmpfs -o size=16k,mode=0755 netstack-full /etc/sysctl.d && "
        "printf '%s' " + shlex.quote(ours) + " > " + OURS + " && "
        "(dd if=/dev/zero of=/etc/sysctl.d/zz-filler bs=1k 2>/dev/null || true)"
    )
    with mounted(lab, host, fill, "umount /etc/sysctl.d"):
        for check in (False, True):
            with unchanged(lab, [host]):
                result = _one(ansible_module, host, dict(WANT, tcp_keepalive_time=777), check=check)
            if check:
                assert result.changed and not result.failed
                continue
            assert result.failed, result.result
            assert result.msg.startswith("path=%r: cannot write it: No space left on device" % OURS)
            assert "allowed: a path in a writable sysctl.d directory with free space" in result.msg
            assert result.msg.endswith("nothing was changed")
        listing = lab.run(host, "ls -A /etc/sysctl.d", check=True).stdout.split()
        assert sorted(listing) == ["90-netstack-keepalive.conf", "zz-filler"]  # no temp, no lock
    assert _runtime(lab, host) == WANT


GARBAGE = "/etc/sysctl.d/20-garbage.conf"


def test_garbage_files_and_leftovers(lab, ansible_module):
    """Garbage in another file is reported, never touched; garbage in ours is replaced;
    temporaries of ours are removed, look-alikes of other names are left alone."""
    host = lab.hosts[0].name
    assert not _one(ansible_module, host, WANT).failed
    script = (
        "head -c 3000 /dev/urandom > %(g)s; printf '\\nnet.ipv4.tcp_keepalive_time = soon\\n"
        "no equals sign here\\n\\000\\377\\n' >> %(g)s; "
        "printf 'net.core.somaxconn = 1\\n\\000garbage\\n' >> %(o)s; "
        "printf 'net.ipv4.tcp_keepalive_time=\\n' >> %(o)s; "
        "printf 'half' > /etc/sysctl.d/.90-netstack-keepalive.conf.k2x9_0qa; "
        "printf 'half' > /etc/sysctl.d/.10-admin.conf.k2x9_0qa; "
        "printf 'keep' > /etc/sysctl.d/.90-netstack-keepalive.conf.bak"
    ) % {"g": GARBAGE, "o": OURS}
    lab.run(host, script, check=True)
    garbage_before = lab.run(host, ["sha256sum", GARBAGE], check=True).stdout
    try:
        with unchanged(lab, [host]):
            check = _one(ansible_module, host, dict(WANT, on_shadowed="ignore"), check=True)
        assert check.changed and check["leftovers_removed"] == [
            "/etc/sysctl.d/.90-netstack-keepalive.conf.k2x9_0qa"
        ]
        result = _one(ansible_module, host, dict(WANT, on_shadowed="ignore"))
        assert result.changed and result["file_changed"] and not result["runtime_changed"]
        assert result["leftovers_removed"] == check["leftovers_removed"]
        assert GARBAGE in {p["file"] for p in result["boot_problems"]}
        assert _file(lab, host) == _rendered(WANT)  # our file holds exactly our keys again
        assert lab.run(host, ["sha256sum", GARBAGE], check=True).stdout == garbage_before
        left = lab.run(host, "ls -A /etc/sysctl.d", check=True).stdout.split()
        assert ".10-admin.conf.k2x9_0qa" in left and ".90-netstack-keepalive.conf.bak" in left
        assert ".90-netstack-keepalive.conf.k2x9_0qa" not in left
        again = _one(ansible_module, host, dict(WANT, on_shadowed="ignore"))
        assert not again.changed
    finally:
        lab.run(
            host,
            [
                "rm",
                "-f",
                GARBAGE,
                "/etc/sysctl.d/.10-admin.conf.k2x9_0qa",
                "/etc/sysctl.d/.90-netstack-keepalive.conf.bak",
            ],
            check=True,
        )


def test_absent_leaves_nothing_and_check_mode_creates_nothing(lab, ansible_module):
    host = lab.hosts[0].name
    assert not _one(ansible_module, host, WANT).failed
    gone = _one(ansible_module, host, {"state": "absent", "restore_runtime": True})
    assert gone.changed and gone["leftovers_removed"] == [LOCK]
    listing = lab.run(host, "ls -A /etc/sysctl.d", check=True).stdout
    assert ".90-netstack" not in listing and "90-netstack" not in listing
    with unchanged(lab, [host]):
        check = _one(ansible_module, host, WANT, check=True)  # no lock file, no temp file
    assert check.changed and not check.failed


# ---------------------------------------------------------------------------------------------
# Killed and concurrent runs: the real module, run directly on the host many times.

DRIVER = r"""
import json, os, random, re, signal, subprocess, sys, tempfile, time

config = json.loads(sys.argv[1])
MODULE = "ansible_collections.netstack.keepalive.plugins.modules.keepalive_sysctl"
OURS = config["ours"]
OPTIONS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
work = tempfile.mkdtemp(prefix="ka-driver-")
env = dict(os.environ, PYTHONPATH=config["collections"])


def start(values, check=False):
    args = dict(values, _ansible_check_mode=check)
    path = os.path.join(work, "args-%f-%d.json" % (time.time(), random.randrange(10**9)))
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    return subprocess.Popen([config["python"], "-m", MODULE, path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def finish(proc):
    out, err = proc.communicate(timeout=60)
    return json.loads(out.decode() or "{}") if proc.returncode == 0 else {
        "rc": proc.returncode, "stdout": out.decode(), "stderr": err.decode()}


def on_host():
    values = {}
    for option in OPTIONS:
        with open("/proc/sys/net/ipv4/" + option) as handle:
            values[option] = int(handle.read())
    in_file = {}
    try:
        with open(OURS) as handle:
            for line in handle:
                match = re.match(r"net\.ipv4\.(\w+) = (\d+)$", line.strip())
                if match:
                    in_file[match.group(1)] = int(match.group(2))
    except IOError:
        pass
    return values, in_file


def temporaries():
    pattern = re.compile(r"^\.%s\.[a-z0-9_]{8}$" % re.escape(os.path.basename(OURS)))
    return [n for n in os.listdir(os.path.dirname(OURS)) if pattern.match(n)]


def identity():
    try:
        info = os.stat(OURS)
        return info.st_ino, info.st_mtime
    except OSError:
        return None


# SIGKILL the run the moment a temporary file or a new version of our file shows up: inside
# the windows a random kill rarely hits (temporary file written, file renamed).
def hunt(proc, typical, target):
    seen, temps = identity(), set(temporaries())
    deadline = time.time() + 3 * typical
    while proc.poll() is None and time.time() < deadline:
        new_temp = target == "temp" and set(temporaries()) - temps
        if new_temp or (target == "file" and identity() != seen):
            proc.send_signal(signal.SIGKILL)
            return True
    return False


def values_for(i):
    return {"tcp_keepalive_time": 1000 + i, "tcp_keepalive_intvl": 10 + i % 50,
            "tcp_keepalive_probes": 1 + i % 100}


def kill_loop(runs):
    durations = []
    for i in range(3):
        begin = time.time()
        finish(start(values_for(i)))
        durations.append(time.time() - begin)
    typical = sorted(durations)[1]
    killed = completed = hunted = temps_seen = half_states = 0
    begin = time.time()
    for i in range(runs):
        proc = start(values_for(i))
        if i % 2 and hunt(proc, typical, "file" if i % 4 == 3 else "temp"):
            hunted += 1
        else:
            time.sleep(random.uniform(0.4, 1.2) * typical)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            killed += 1
        else:
            completed += 1
        proc.communicate()
        temps_seen += bool(temporaries())
        values, in_file = on_host()
        half_states += values != in_file
    final = finish(start(values_for(runs)))
    values, in_file = on_host()
    return {"runs": runs, "killed": killed, "completed": completed, "hunted": hunted,
            "temps_seen": temps_seen,
            "half_states_seen": half_states, "seconds": round(time.time() - begin, 1),
            "typical_run": round(typical, 3), "final": final, "runtime": values,
            "file": in_file, "temporaries_after": temporaries(), "wanted": values_for(runs)}


def pairs(count):
    out = []
    begin = time.time()
    for i in range(count):
        first, second = values_for(2 * i + 500), values_for(2 * i + 501)
        procs = [start(first), start(second), start(second, check=True)]
        results = [finish(p) for p in procs]
        values, in_file = on_host()
        out.append({"wanted": [first, second], "results": results, "runtime": values,
                    "file": in_file, "temporaries": temporaries()})
    return {"pairs": out, "seconds": round(time.time() - begin, 1)}


try:
    result = kill_loop(config["runs"]) if config["what"] == "kill" else pairs(config["pairs"])
finally:
    subprocess.call(["rm", "-rf", work])
print(json.dumps(result))
"""


def _drive(lab, host, **config):
    config.update(ours=OURS, python=_in_host.HOST_PYTHON, collections=_in_host.install(lab, host))
    done = lab.run(
        host, ["/usr/bin/python3", "-c", DRIVER, json.dumps(config)], check=True, timeout=120
    )
    return json.loads(done.stdout)


def test_sigkill_at_random_moments_then_one_run_leaves_a_true_state(lab):
    host = lab.hosts[0].name
    outcome = _drive(lab, host, what="kill", runs=100)
    print("SIGKILL loop: %s" % {k: v for k, v in outcome.items() if k != "final"})
    assert outcome["killed"] >= 50, outcome
    # some kills landed where they hurt: a temporary file or our new file without its runtime
    assert outcome["temps_seen"] + outcome["half_states_seen"] >= 1, outcome
    assert outcome["seconds"] < 60, outcome
    final = outcome["final"]
    assert final.get("failed") is not True and "rc" not in final, final
    assert outcome["temporaries_after"] == []
    assert outcome["runtime"] == outcome["file"] == outcome["wanted"] == final["after"]
    listing = lab.run(host, "ls -A /etc/sysctl.d", check=True).stdout.split()
    assert [n for n in listing if n.startswith(".90-netstack")] == [
        ".90-netstack-keepalive.conf.lock"
    ]


def _later(pair):
    """The run of a pair that held the lock second: its ``before`` is the other's values."""
    first, second = pair["results"][:2]
    wanted = pair["wanted"]
    if second["before"] == wanted[0]:
        return 1, second
    assert first["before"] == wanted[1], pair  # one of the two ran strictly after the other
    return 0, first


def test_concurrent_runs_serialise_and_the_last_report_is_true(lab):
    host = lab.hosts[0].name
    outcome = _drive(lab, host, what="pairs", pairs=50)
    print("concurrent pairs: %d in %.1f s" % (len(outcome["pairs"]), outcome["seconds"]))
    assert outcome["seconds"] < 60
    for pair in outcome["pairs"]:
        results = pair["results"]
        assert all("rc" not in r and not r.get("failed") for r in results), pair
        assert all(r["changed"] for r in results[:2]), pair
        index, later = _later(pair)
        assert later["after"] == pair["wanted"][index] == pair["runtime"] == pair["file"], pair
        assert pair["temporaries"] == []
        # the check-mode run saw one whole state, never half of a writer's: file and runtime
        # of the same run
        seen = results[2]["before"]
        assert {o: v["value"] for o, v in results[2]["boot_values_before"].items()} == seen, pair
        assert (
            seen in pair["wanted"] or seen == results[0]["before"] or seen == results[1]["before"]
        ), pair
