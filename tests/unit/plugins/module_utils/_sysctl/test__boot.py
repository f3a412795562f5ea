"""The sysctl.d boot-precedence model, on fake trees (sysctl.d(5), procps sysctl --system and
systemd-sysctl)."""

from __future__ import annotations

import os
import signal

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import _boot as boot
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

TIME = "net.ipv4.tcp_keepalive_time"
INTVL = "net.ipv4.tcp_keepalive_intvl"
PROBES = "net.ipv4.tcp_keepalive_probes"
KEYS = (TIME, INTVL, PROBES)
DEFAULTS = {TIME: 7200, INTVL: 75, PROBES: 9}
OURS = "/etc/sysctl.d/60-netstack-keepalive.conf"
OURS_TEXT = "# managed\n%s = 600\n" % TIME
EMPTY_DIRS = {d: ("dir",) for d in boot.SYSCTL_D_DIRS}


def build_tree(root, files):
    """``files``: host path -> text, ("link", target) or ("dir",)."""
    for path, spec in files.items():
        local = root / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, str):
            local.write_bytes(spec.encode())
        elif spec[0] == "link":
            os.symlink(spec[1], local)
        elif spec[0] == "dir":
            local.mkdir(exist_ok=True)


# (id, files, expected time value, expected time source, shadowed (file, line), problems)
PRECEDENCE = [
    ("nothing-at-all", {}, 7200, "kernel default", [], []),
    ("empty-dirs", EMPTY_DIRS, 7200, "kernel default", [], []),
    ("ours-only", {OURS: OURS_TEXT}, 600, OURS + ":2", [], []),
    (
        "later-name-same-dir-shadows",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s = 7200\n" % TIME},
        7200,
        "/etc/sysctl.d/99-zzz.conf:1",
        [("/etc/sysctl.d/99-zzz.conf", 1)],
        [],
    ),
    (
        "earlier-name-loses",
        {OURS: OURS_TEXT, "/etc/sysctl.d/10-aaa.conf": "%s = 100\n" % TIME},
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "later-name-in-lower-dir-still-shadows",
        {OURS: OURS_TEXT, "/usr/lib/sysctl.d/99-vendor.conf": "%s = 300\n" % TIME},
        300,
        "/usr/lib/sysctl.d/99-vendor.conf:1",
        [("/usr/lib/sysctl.d/99-vendor.conf", 1)],
        [],
    ),
    (
        "etc-same-name-masks-usr-lib",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-x.conf": "# nothing\n",
            "/usr/lib/sysctl.d/99-x.conf": "%s = 100\n" % TIME,
        },
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "dev-null-link-masks",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-x.conf": ("link", "/dev/null"),
            "/usr/lib/sysctl.d/99-x.conf": "%s = 100\n" % TIME,
        },
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "run-masks-usr-lib",
        {
            OURS: OURS_TEXT,
            "/run/sysctl.d/99-x.conf": "%s = 400\n" % TIME,
            "/usr/lib/sysctl.d/99-x.conf": "%s = 100\n" % TIME,
        },
        400,
        "/run/sysctl.d/99-x.conf:1",
        [("/run/sysctl.d/99-x.conf", 1)],
        [],
    ),
    (
        "etc-masks-run",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-x.conf": "%s = 300\n" % TIME,
            "/run/sysctl.d/99-x.conf": "%s = 400\n" % TIME,
        },
        300,
        "/etc/sysctl.d/99-x.conf:1",
        [("/etc/sysctl.d/99-x.conf", 1)],
        [],
    ),
    (
        "usr-local-masks-usr-lib",
        {
            OURS: OURS_TEXT,
            "/usr/local/lib/sysctl.d/99-x.conf": "%s = 500\n" % TIME,
            "/usr/lib/sysctl.d/99-x.conf": "%s = 100\n" % TIME,
        },
        500,
        "/usr/local/lib/sysctl.d/99-x.conf:1",
        [("/usr/local/lib/sysctl.d/99-x.conf", 1)],
        [],
    ),
    (
        "usr-lib-masks-lib",
        {
            OURS: OURS_TEXT,
            "/usr/lib/sysctl.d/99-x.conf": "%s = 100\n" % TIME,
            "/lib/sysctl.d/99-x.conf": "%s = 200\n" % TIME,
        },
        100,
        "/usr/lib/sysctl.d/99-x.conf:1",
        [("/usr/lib/sysctl.d/99-x.conf", 1)],
        [],
    ),
    (
        "etc-sysctl-conf-last",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-zzz.conf": "%s = 900\n" % TIME,
            "/etc/sysctl.conf": "%s = 800\n" % TIME,
        },
        800,
        "/etc/sysctl.conf:1",
        [("/etc/sysctl.d/99-zzz.conf", 1), ("/etc/sysctl.conf", 1)],
        [],
    ),
    (
        "dash-prefix-still-applies",
        {OURS: OURS_TEXT, "/etc/sysctl.conf": "-%s = 800\n" % TIME},
        800,
        "/etc/sysctl.conf:1",
        [("/etc/sysctl.conf", 1)],
        [],
    ),
    (
        "slash-separators",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "net/ipv4/tcp_keepalive_time = 42\n"},
        42,
        "/etc/sysctl.d/99-zzz.conf:1",
        [("/etc/sysctl.d/99-zzz.conf", 1)],
        [],
    ),
    (
        "crlf-file",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "# dos\r\n%s = 43\r\n" % TIME},
        43,
        "/etc/sysctl.d/99-zzz.conf:2",
        [("/etc/sysctl.d/99-zzz.conf", 2)],
        [],
    ),
    (
        "duplicates-last-wins-both-listed",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s = 1\n%s = 2\n" % (TIME, TIME)},
        2,
        "/etc/sysctl.d/99-zzz.conf:2",
        [("/etc/sysctl.d/99-zzz.conf", 1), ("/etc/sysctl.d/99-zzz.conf", 2)],
        [],
    ),
    (
        "comments-hash-and-semicolon",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "#%s = 1\n; %s = 2\n" % (TIME, TIME)},
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "whitespace-and-tabs",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "  \t%s\t=\t 44 \t\n" % TIME},
        44,
        "/etc/sysctl.d/99-zzz.conf:1",
        [("/etc/sysctl.d/99-zzz.conf", 1)],
        [],
    ),
    (
        "no-spaces-around-equals",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s=45\n" % TIME},
        45,
        "/etc/sysctl.d/99-zzz.conf:1",
        [("/etc/sysctl.d/99-zzz.conf", 1)],
        [],
    ),
    (
        "invalid-line-reported-not-applied",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s\n" % TIME},
        600,
        OURS + ":2",
        [],
        [("/etc/sysctl.d/99-zzz.conf", 1)],
    ),
    (
        "non-numeric-value-reported",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s = soon\n" % TIME},
        600,
        OURS + ":2",
        [],
        [("/etc/sysctl.d/99-zzz.conf", 1)],
    ),
    (
        "unreadable-dangling-link",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-gone.conf": ("link", "/nowhere/x.conf")},
        600,
        OURS + ":2",
        [],
        [("/etc/sysctl.d/99-gone.conf", None)],
    ),
    (
        "unreadable-directory-named-conf",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-dir.conf": ("dir",)},
        600,
        OURS + ":2",
        [],
        [("/etc/sysctl.d/99-dir.conf", None)],
    ),
    (
        "only-dot-conf-files-count",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-zzz.conf.bak": "%s = 1\n" % TIME,
            "/etc/sysctl.d/README": "%s = 1\n" % TIME,
            "/etc/sysctl.d/.conf": "%s = 1\n" % TIME,
        },
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "byte-order-uppercase-first",
        {OURS: OURS_TEXT, "/etc/sysctl.d/60-Zed.conf": "%s = 46\n" % TIME},
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "byte-order-dash-before-digit",
        {OURS: OURS_TEXT, "/etc/sysctl.d/600-x.conf": "%s = 47\n" % TIME},
        47,
        "/etc/sysctl.d/600-x.conf:1",
        [("/etc/sysctl.d/600-x.conf", 1)],
        [],
    ),
    (
        "debian-99-sysctl-link-counts-twice",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-sysctl.conf": ("link", "../sysctl.conf"),
            "/etc/sysctl.conf": "%s = 48\n" % TIME,
        },
        48,
        "/etc/sysctl.conf:1",
        [("/etc/sysctl.d/99-sysctl.conf", 1), ("/etc/sysctl.conf", 1)],
        [],
    ),
    (
        "absolute-link-resolved-inside-root",
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-site.conf": ("link", "/srv/site/sysctl.conf"),
            "/srv/site/sysctl.conf": "%s = 49\n" % TIME,
        },
        49,
        "/etc/sysctl.d/99-site.conf:1",
        [("/etc/sysctl.d/99-site.conf", 1)],
        [],
    ),
    (
        "other-keys-ignored",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "net.core.somaxconn = 4096\n"},
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "prefix-of-key-is-another-key",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s_x = 1\n" % TIME},
        600,
        OURS + ":2",
        [],
        [],
    ),
    (
        "sysctl-conf-missing-is-fine",
        {OURS: OURS_TEXT, "/etc/sysctl.d/99-zzz.conf": "%s = 50\n" % INTVL},
        600,
        OURS + ":2",
        [],
        [],
    ),
]


@pytest.mark.parametrize(
    "files, value, source, shadowed, problems",
    [case[1:] for case in PRECEDENCE],
    ids=[case[0] for case in PRECEDENCE],
)
def test_precedence(tmp_path, files, value, source, shadowed, problems):
    build_tree(tmp_path, files)
    model = boot.boot_assignments(str(tmp_path), keys=KEYS)
    values = boot.boot_values(model, DEFAULTS)
    assert (values[TIME]["value"], values[TIME]["source"]) == (value, source)
    found = boot.shadowing(model, OURS, KEYS)
    assert [(e["file"], e["line"]) for e in found] == shadowed
    assert [(p["file"], p["line"]) for p in model["problems"]] == problems


def test_at_least_25_precedence_cases():
    assert len(PRECEDENCE) >= 25


@pytest.mark.parametrize(
    "ours, files, masked_by",
    [
        (
            "/usr/lib/sysctl.d/60-netstack-keepalive.conf",
            {"/etc/sysctl.d/60-netstack-keepalive.conf": ("link", "/dev/null")},
            "/etc/sysctl.d/60-netstack-keepalive.conf",
        ),
        (
            "/run/sysctl.d/60-k.conf",
            {"/etc/sysctl.d/60-k.conf": "# admin copy\n"},
            "/etc/sysctl.d/60-k.conf",
        ),
        (
            "/lib/sysctl.d/60-k.conf",
            {"/usr/local/lib/sysctl.d/60-k.conf": "%s = 1\n" % TIME},
            "/usr/local/lib/sysctl.d/60-k.conf",
        ),
    ],
    ids=["dev-null-in-etc", "etc-copy-masks-run", "usr-local-masks-lib"],
)
def test_our_file_masked(tmp_path, ours, files, masked_by):
    build_tree(tmp_path, dict(files, **{ours: OURS_TEXT}))
    model = boot.boot_assignments(str(tmp_path), keys=KEYS)
    found = boot.shadowing(model, ours, KEYS)
    assert [(e["file"], e["key"]) for e in found] == [(masked_by, None)]
    assert "masks " + ours in found[0]["reason"]
    assert boot.boot_values(model, DEFAULTS)[TIME]["source"] != ours + ":2"


@pytest.mark.parametrize(
    "overrides, value, source",
    [
        ({OURS: None}, 300, "/usr/lib/sysctl.d/50-vendor.conf:1"),
        ({OURS: "%s = 601\n" % TIME}, 601, OURS + ":1"),
        ({"/run/sysctl.d/70-new.conf": "%s = 700\n" % TIME}, 700, "/run/sysctl.d/70-new.conf:1"),
    ],
    ids=["our-file-removed", "our-file-rewritten", "new-file-in-missing-dir"],
)
def test_overrides_model_the_host_after_the_change(tmp_path, overrides, value, source):
    build_tree(tmp_path, {OURS: OURS_TEXT, "/usr/lib/sysctl.d/50-vendor.conf": "%s = 300\n" % TIME})
    before = sorted(p.name for p in tmp_path.rglob("*"))
    model = boot.boot_assignments(str(tmp_path), overrides, keys=KEYS)
    assert boot.boot_values(model, DEFAULTS)[TIME]["value"] == value
    assert boot.boot_values(model, DEFAULTS)[TIME]["source"] == source
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # modelled, not written


def test_all_three_keys_and_defaults(tmp_path):
    build_tree(tmp_path, {OURS: "%s = 30\n%s = 4\n" % (INTVL, PROBES)})
    values = boot.boot_values(boot.boot_assignments(str(tmp_path), keys=KEYS), DEFAULTS)
    assert {k: v["value"] for k, v in values.items()} == {TIME: 7200, INTVL: 30, PROBES: 4}
    assert values[PROBES] == {"value": 4, "source": OURS + ":2", "file": OURS, "line": 2}


def test_list_boot_files_order_and_masks(tmp_path):
    build_tree(
        tmp_path,
        {
            "/usr/lib/sysctl.d/10-a.conf": "",
            "/etc/sysctl.d/10-a.conf": "",
            "/run/sysctl.d/05-b.conf": "",
            "/lib/sysctl.d/99-c.conf": "",
            "/etc/sysctl.conf": "",
        },
    )
    files, masked = boot.list_boot_files(str(tmp_path))
    assert files == [
        "/run/sysctl.d/05-b.conf",
        "/etc/sysctl.d/10-a.conf",
        "/lib/sysctl.d/99-c.conf",
        "/etc/sysctl.conf",
    ]
    assert masked == [
        {
            "file": "/usr/lib/sysctl.d/10-a.conf",
            "masked_by": "/etc/sysctl.d/10-a.conf",
            "dev_null": False,
        }
    ]


@pytest.mark.parametrize(
    "raw, key",
    [
        ("net.ipv4.tcp_keepalive_time", TIME),
        ("net/ipv4/tcp_keepalive_time", TIME),
        ("/net/ipv4/tcp_keepalive_time", TIME),
        ("  net.ipv4.tcp_keepalive_time\t", TIME),
        ("net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding"),
        ("net.ipv4.conf.eth0/100.forwarding", "net.ipv4.conf.eth0/100.forwarding"),
    ],
)
def test_keys_are_read_in_their_canonical_dotted_form(raw, key):
    (entry,) = boot.parse_sysctl_text("%s = 1\n" % raw)
    assert entry["key"] == key


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("", []),
        ("x\n", []),  # shorter than 2 characters: ignored like procps
        ("# a = 1\n; b = 2\n", []),
        ("a.b = 1\n", [(1, "a.b", "1", False)]),
        ("-a.b=1\n", [(1, "a.b", "1", True)]),
        ("a.b = 1 2\r\n", [(1, "a.b", "1 2", False)]),
        ("\n\na.b = x=y\n", [(3, "a.b", "x=y", False)]),
        ("a.b =\n", [(1, "a.b", "", False)]),  # procps writes "\n"; the kernel decides
        ("= 1\n", [(1, None, None, None)]),
        ("a.b = 1\0 2\n", [(1, "a.b", "1", False)]),  # a C string ends at NUL
        ("a.b\0 = 1\n", [(1, None, None, None)]),
        ("a.b = 1\r2\n", [(1, "a.b", "1\r2", False)]),  # only LF ends a line
        ("a.b =\r3\n", [(1, "a.b", "3", False)]),
        ("=a.b=4\n", [(1, None, None, None)]),
        ("- a.b = 5\n", [(1, " a.b", "5", True)]),  # no sysctl is called " a.b"
        ("-a.b\n", []),  # a glob exclusion sets nothing
        ("a.b = 6\xa0\n", [(1, "a.b", "6\xa0", False)]),  # not C white space
    ],
)
def test_parse_sysctl_text(text, parsed):
    entries = boot.parse_sysctl_text(text)
    got = [(e["line"], e["key"], e.get("value"), e.get("ignore_failure")) for e in entries]
    assert got == parsed


# ---------------------------------------------------------------------------------------------
# Values as the kernel takes them. Every row was written with procps 4.0.2 into a fresh
# network namespace of Linux 6.18 (CONFIG_HZ=250) and read back from /proc/sys;
# tests/integration/test_boot_parser_reboot.py proves them again by real lab reboots.

RETRIES2 = "net.ipv4.tcp_retries2"
KERNEL = {"release": "6.18.44", "hz": 250}

# (key, value text as procps writes it, the int the key holds, or None: refused)
KERNEL_CASES = [
    (TIME, "600", 600),
    (TIME, "4 # ops", 4),  # the kernel stops after one integer
    (TIME, "300 400", 300),
    (TIME, "5\t6", 5),
    (TIME, "54 = 55", 54),
    (TIME, "1 \v 2", 1),
    (TIME, "010", 8),  # leading 0: octal
    (TIME, "077", 63),
    (TIME, "0x20", 32),
    (TIME, "0X1F", 31),
    (TIME, "0 x1", 0),
    (TIME, "08", None),  # octal 0, then "8" is not white space
    (TIME, "0x", None),  # "0x" without a hex digit is octal 0 followed by "x"
    (TIME, "0xg", None),
    (TIME, "0x1g", None),
    (TIME, "7abc", None),
    (TIME, "1.5", None),
    (TIME, "65;66", None),
    (TIME, "67#", None),
    (TIME, "56\v57", None),  # \v is white space to procps, not after a number
    (TIME, "46\r47", None),
    (TIME, "68\x85", None),
    (TIME, "69\xa0", None),
    (TIME, "", None),
    (TIME, "= 53", None),  # "key == 53"
    (TIME, "+5", None),
    (TIME, "--5", None),
    (TIME, "- 5", None),
    (TIME, "-", None),
    (TIME, "-5", -5),  # proc_dointvec_jiffies takes negatives
    (TIME, "-0", 0),
    (TIME, "8589934", 8589934),  # INT_MAX / 250
    (TIME, "0x83126e", 8589934),
    (TIME, "8589935", None),
    (TIME, "-8589934", -8589934),
    (TIME, "-8589935", None),
    (TIME, "2147483647", None),
    (TIME, "00000000000000000005", 5),  # 20 characters
    (TIME, "000000000000000000005", None),  # 21: refused whatever its value
    (TIME, "-0000000000000000005", -5),
    (TIME, "-00000000000000000005", None),
    (TIME, "99999999999999999999", None),  # beyond 64 bits
    (TIME, "0x1fffffffffffffffff", None),
    (INTVL, "45", 45),
    (INTVL, "0777777777777", None),
    (PROBES, "0", 0),
    (PROBES, "255", 255),
    (PROBES, "256", None),
    (PROBES, "-1", None),  # proc_dou8vec_minmax: no sign at all
    (PROBES, "-0", None),
    (PROBES, "4 junk", 4),
    (PROBES, "0x10", 16),
    (PROBES, "4294967296", None),
    (RETRIES2, "255", 255),
    (RETRIES2, "256", None),
    (RETRIES2, "-1", None),
    (RETRIES2, "010 x", 8),
    ("net.core.somaxconn", "-2147483648", -2147483648),  # not in the table: proc_dointvec
    ("net.core.somaxconn", "-2147483649", None),
    ("net.core.somaxconn", "2147483648", None),
]


@pytest.mark.parametrize("key, text, value", KERNEL_CASES)
def test_kernel_value(key, text, value):
    got, reason = boot.kernel_value(key, text, KERNEL)
    assert got == value
    if value is None:
        assert reason.startswith("%s = %r: " % (key, text))
    else:
        assert reason is None


@pytest.mark.parametrize(
    "text, refused_because",
    [
        ("08", "followed by '8'"),
        ("256", "not in 0..255"),
        ("", "nothing after '='"),
        ("000000000000000000005", "longer than 20 characters"),
        ("99999999999999999999", "does not fit 64 bits"),
        ("x", "does not start with a digit"),
    ],
)
def test_refusal_says_what_the_kernel_does(text, refused_because):
    _value, reason = boot.kernel_value(PROBES, text, KERNEL)
    assert refused_because in reason
    assert reason.endswith("the kernel refuses it at boot (EINVAL) and the key keeps its value")


@pytest.mark.parametrize(
    "text, value, uncertain",
    [
        ("2147483", 2147483, False),  # INT_MAX / 1000: taken whatever CONFIG_HZ is
        ("2147484", None, True),
        ("21474836", None, True),  # INT_MAX / 100
        ("21474837", None, False),  # refused whatever CONFIG_HZ is
    ],
)
def test_jiffies_limit_without_kernel_config(text, value, uncertain):
    got, reason = boot.kernel_value(TIME, text, {"release": "6.18.44", "hz": None})
    assert got == value
    assert (reason is not None and "uncertain" in reason) == uncertain


@pytest.mark.parametrize(
    "release, handler", [("6.18.44-fc", "u8"), ("5.13.0", "u8"), ("5.10.0-28-amd64", "int")]
)
def test_probes_handler_by_release(release, handler):
    # Not proven on a kernel before 5.13 here: only the release rule is checked.
    assert boot.handler_of(PROBES, {"release": release, "hz": 250}) == handler
    assert boot.handler_of(TIME, {"release": release, "hz": 250}) == "jiffies"


def test_hz_from_kernel_config_under_root(tmp_path):
    release = os.uname()[2]
    build_tree(tmp_path, {"/boot/config-" + release: "# c\nCONFIG_HZ_300=y\nCONFIG_HZ=300\n"})
    assert boot.kernel_facts(str(tmp_path)) == {"release": release, "hz": 300}
    assert boot.kernel_facts(str(tmp_path / "nothing"))["hz"] is None


# A later file with each tricky value, after our file (600): (id, line, time at boot, source
# line or None when it stays ours, shadows, problem lines)
LATER = "/etc/sysctl.d/95-later.conf"
TRICKY_LINES = [
    ("comment-after-value", "%s = 4 # ops" % TIME, 4, 1, True, []),
    ("octal", "%s = 010" % TIME, 8, 1, True, []),
    ("hex", "%s = 0x20" % TIME, 32, 1, True, []),
    ("two-numbers", "%s = 300 400" % TIME, 300, 1, True, []),
    ("nul-then-junk", "%s = 45\0junk" % TIME, 45, 1, True, []),
    ("nul-before-equals", "%s\0 = 45" % TIME, 600, None, False, [1]),
    ("crlf", "%s = 50\r" % TIME, 50, 1, True, []),
    ("cr-inside-value", "%s = 46\r47" % TIME, 600, None, False, [1]),
    ("cr-before-value", "%s =\r48" % TIME, 48, 1, True, []),
    ("octal-8", "%s = 08" % TIME, 600, None, False, [1]),
    ("empty-after-equals", "%s =" % TIME, 600, None, False, [1]),
    ("equals-first", "=%s=51" % TIME, 600, None, False, [1]),
    ("double-equals", "%s == 53" % TIME, 600, None, False, [1]),
    ("dash-space", "- %s = 62" % TIME, 600, None, False, []),
    ("negative", "%s = -5" % TIME, -5, 1, True, []),
    ("too-big-for-hz", "%s = 8589935" % TIME, 600, None, False, [1]),
    ("hash-in-key", "%s   # x = 64" % TIME, 600, None, False, []),
]


@pytest.mark.parametrize(
    "line, value, source_line, shadows, problems",
    [case[1:] for case in TRICKY_LINES],
    ids=[case[0] for case in TRICKY_LINES],
)
def test_tricky_later_line(tmp_path, line, value, source_line, shadows, problems):
    build_tree(tmp_path, {OURS: OURS_TEXT, LATER: "# later\n" + line + "\n"})
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    got = boot.boot_values(model, DEFAULTS)[TIME]
    source = "%s:%d" % (LATER, source_line + 1) if source_line else OURS + ":2"
    assert (got["value"], got["source"]) == (value, source)
    assert [(e["file"], e["value"]) for e in boot.shadowing(model, OURS, KEYS)] == (
        [(LATER, value)] if shadows else []
    )
    assert [p["line"] - 1 for p in model["problems"]] == problems


@pytest.mark.parametrize(
    "text, expected",
    [
        ("net.ipv4.tcp_keepalive_* = 33\n", {TIME: 600, INTVL: 33, PROBES: 33}),
        ("net/ipv4/tcp_keepalive_* = 37\n", {TIME: 600, INTVL: 37, PROBES: 37}),
        ("net.*.tcp_keepalive_intvl = 38\n", {TIME: 600, INTVL: 38, PROBES: 9}),
        ("net.ipv4.tcp_keepalive_[i]ntvl = 35\n", {TIME: 600, INTVL: 35, PROBES: 9}),
        ("net.* = 39\n", {TIME: 600, INTVL: 75, PROBES: 9}),  # * stops at a separator
        # a glob never sets a key that some line names, wherever that line is
        ("net.ipv4.tcp_keepalive_* = 33\n%s = 34\n" % INTVL, {TIME: 600, INTVL: 34, PROBES: 33}),
        ("-%s\nnet.ipv4.tcp_keepalive_* = 33\n" % INTVL, {TIME: 600, INTVL: 75, PROBES: 33}),
        # procps 4.0.2 excludes only exact names, not globs
        ("-net.ipv4.*\nnet.ipv4.tcp_keepalive_* = 33\n", {TIME: 600, INTVL: 33, PROBES: 33}),
        ("net.ipv4.tcp_keepalive_* = 300\n", {TIME: 600, INTVL: 300, PROBES: 9}),
    ],
)
def test_globs(tmp_path, text, expected):
    build_tree(tmp_path, {OURS: OURS_TEXT, LATER: text})
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    values = boot.boot_values(model, DEFAULTS)
    assert {k: v["value"] for k, v in values.items()} == expected
    assert boot.shadowing(model, OURS, KEYS) == []  # our key is named, so no glob touches it


def test_glob_value_refused_for_one_key_only(tmp_path):
    build_tree(tmp_path, {LATER: "net.ipv4.tcp_keepalive_* = 300\n"})
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    assert [(a["key"], a["value"]) for a in model["assignments"]] == [(TIME, 300), (INTVL, 300)]
    assert [p["reason"].split(" = ")[0] for p in model["problems"]] == [PROBES]


def test_all_keys_without_kernel_parse(tmp_path):
    build_tree(tmp_path, {LATER: "a.b = 010\n-c.d\nnet.* = x\n"})
    model = boot.boot_assignments(str(tmp_path))
    assert [(a["key"], a["value"]) for a in model["assignments"]] == [
        ("a.b", "010"),
        ("net.*", "x"),
    ]


# ---------------------------------------------------------------------------------------------
# Files that are not regular files


def test_fifo_is_a_problem_and_never_blocks(tmp_path):
    build_tree(tmp_path, {OURS: OURS_TEXT, "/etc/sysctl.d/99-z.conf": "%s = 1\n" % TIME})
    os.mkfifo(str(tmp_path / "etc/sysctl.d/70-fifo.conf"))
    os.symlink("70-fifo.conf", str(tmp_path / "etc/sysctl.d/71-fifo-link.conf"))
    signal.alarm(10)  # a blocking open() would hang the test: fail it instead
    try:
        model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    finally:
        signal.alarm(0)
    assert [(p["file"], p["line"]) for p in model["problems"]] == [
        ("/etc/sysctl.d/70-fifo.conf", None),
        ("/etc/sysctl.d/71-fifo-link.conf", None),
    ]
    reason = model["problems"][0]["reason"]
    assert reason.startswith("is a FIFO (named pipe), not a regular file: it sets nothing")
    assert "procps 'sysctl --system' and systemd-sysctl (252) block on it at boot" in reason
    assert boot.boot_values(model, DEFAULTS)[TIME]["value"] == 1  # the other files still count


def test_directory_and_device_named_conf(tmp_path):
    build_tree(tmp_path, {"/etc/sysctl.d/80-dir.conf": ("dir",)})
    os.symlink("/dev/zero", str(tmp_path / "etc/sysctl.d/81-zero.conf"))
    os.makedirs(str(tmp_path / "dev"))
    os.symlink("/dev/zero", str(tmp_path / "dev/zero"))  # the machine's /dev/zero
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    assert [p["reason"].split(",")[0] for p in model["problems"]] == [
        "is a directory",
        "is a character device",
    ]


# ---------------------------------------------------------------------------------------------
# Merged /usr: /lib -> usr/lib makes /lib/sysctl.d and /usr/lib/sysctl.d one directory

MERGED = {"/lib": ("link", "usr/lib"), "/usr/lib/sysctl.d": ("dir",)}


@pytest.mark.parametrize("ours", ["/lib/sysctl.d/90-x.conf", "/usr/lib/sysctl.d/90-x.conf"])
def test_merged_usr_our_file_is_not_masked_by_itself(tmp_path, ours):
    build_tree(tmp_path, MERGED)
    text = "%s = 601\n" % TIME
    first = boot.boot_assignments(str(tmp_path), {ours: text}, keys=KEYS, kernel=KERNEL)
    build_tree(tmp_path, {ours: text})
    second = boot.boot_assignments(str(tmp_path), {}, keys=KEYS, kernel=KERNEL)
    for model in (first, second):
        assert model["masked"] == []
        assert boot.shadowing(model, ours, KEYS) == []
        got = boot.boot_values(model, DEFAULTS)[TIME]
        assert (got["value"], got["source"]) == (601, "/usr/lib/sysctl.d/90-x.conf:1")
    assert boot.list_boot_files(str(tmp_path))[0] == ["/usr/lib/sysctl.d/90-x.conf"]


def test_merged_usr_our_file_removed_under_other_spelling(tmp_path):
    build_tree(tmp_path, dict(MERGED, **{"/usr/lib/sysctl.d/90-x.conf": "%s = 601\n" % TIME}))
    model = boot.boot_assignments(str(tmp_path), {"/lib/sysctl.d/90-x.conf": None}, keys=KEYS)
    assert model["assignments"] == []


def test_merged_usr_dev_null_link_masks_either_spelling(tmp_path):
    build_tree(
        tmp_path,
        dict(
            MERGED,
            **{
                "/usr/lib/sysctl.d/90-x.conf": "%s = 601\n" % TIME,
                "/etc/sysctl.d/90-x.conf": ("link", "/dev/null"),
            },
        ),
    )
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    for ours in ("/lib/sysctl.d/90-x.conf", "/usr/lib/sysctl.d/90-x.conf"):
        found = boot.shadowing(model, ours, KEYS)
        assert [(e["file"], e["key"]) for e in found] == [("/etc/sysctl.d/90-x.conf", None)]
        assert found[0]["reason"].startswith("masks %s (a link to /dev/null" % ours)
    assert boot.boot_values(model, DEFAULTS)[TIME]["source"] == "kernel default"


def test_dev_null_through_a_chain_of_links(tmp_path):
    build_tree(
        tmp_path,
        {
            OURS: OURS_TEXT,
            "/etc/sysctl.d/99-x.conf": ("link", "../mask"),
            "/etc/mask": ("link", "/dev/null"),
        },
    )
    assert boot.is_masking_link(str(tmp_path), "/etc/sysctl.d/99-x.conf")
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, kernel=KERNEL)
    assert model["problems"] == [] and len(model["assignments"]) == 1


def test_directory_spellings(tmp_path):
    build_tree(tmp_path, MERGED)
    assert boot.directory_spellings(str(tmp_path))["/lib/sysctl.d"] == "/usr/lib/sysctl.d"
    assert boot.directory_spellings(str(tmp_path / "plain"))["/lib/sysctl.d"] == "/lib/sysctl.d"
    assert boot.host_realpath(str(tmp_path), "/lib/x/../sysctl.d") == "/usr/lib/sysctl.d"


# --- what applies the files at boot: systemd-sysctl or procps --------------------------------

LINK_99 = {"/etc/sysctl.d/99-sysctl.conf": ("link", "../sysctl.conf")}


def test_boot_init_is_systemd_only_when_systemd_runs(tmp_path):
    assert boot.boot_init(str(tmp_path)) == boot.INIT_PROCPS
    build_tree(tmp_path, {"/run/systemd/system": ("dir",)})
    assert boot.boot_init(str(tmp_path)) == boot.INIT_SYSTEMD
    assert boot.boot_assignments(str(tmp_path), keys=KEYS)["init"] == boot.INIT_SYSTEMD


def test_an_unknown_init_is_refused(tmp_path):
    with pytest.raises(KeepaliveError, match="init must be one of systemd-sysctl, procps"):
        boot.list_boot_files(str(tmp_path), init="openrc")


# (id, files, init, expected time value, source, problems (file, line) in order)
INITS = [
    (
        "trixie-no-link-systemd-never-reads-sysctl-conf",
        {OURS: OURS_TEXT, "/etc/sysctl.conf": "# admin\n%s = 800\n" % TIME},
        boot.INIT_SYSTEMD,
        600,
        OURS + ":2",
        [("/etc/sysctl.conf", None), ("/etc/sysctl.conf", 2)],
    ),
    (
        "trixie-no-link-procps-reads-it-last",
        {OURS: OURS_TEXT, "/etc/sysctl.conf": "# admin\n%s = 800\n" % TIME},
        boot.INIT_PROCPS,
        800,
        "/etc/sysctl.conf:2",
        [],
    ),
    (
        "other-keys-only-one-file-problem",
        {OURS: OURS_TEXT, "/etc/sysctl.conf": "vm.swappiness = 10\n"},
        boot.INIT_SYSTEMD,
        600,
        OURS + ":2",
        [("/etc/sysctl.conf", None)],
    ),
    (
        "comments-only-sysctl-conf-is-no-problem",
        {OURS: OURS_TEXT, "/etc/sysctl.conf": "# nothing\n"},
        boot.INIT_SYSTEMD,
        600,
        OURS + ":2",
        [],
    ),
    (
        "bookworm-link-read-in-the-links-place",
        dict(
            LINK_99,
            **{
                "/etc/sysctl.conf": "%s = 800\n" % TIME,
                "/etc/sysctl.d/99-zzz.conf": "%s = 900\n" % TIME,
            },
        ),
        boot.INIT_SYSTEMD,
        900,
        "/etc/sysctl.d/99-zzz.conf:1",
        [],
    ),
    (
        "bookworm-link-procps-applies-sysctl-conf-again-last",
        dict(
            LINK_99,
            **{
                "/etc/sysctl.conf": "%s = 800\n" % TIME,
                "/etc/sysctl.d/99-zzz.conf": "%s = 900\n" % TIME,
            },
        ),
        boot.INIT_PROCPS,
        800,
        "/etc/sysctl.conf:1",
        [],
    ),
    (
        "link-is-the-source-under-systemd",
        dict(LINK_99, **{OURS: OURS_TEXT, "/etc/sysctl.conf": "%s = 800\n" % TIME}),
        boot.INIT_SYSTEMD,
        800,
        "/etc/sysctl.d/99-sysctl.conf:1",
        [],
    ),
    (
        "hidden-file-skipped-by-systemd",
        {"/etc/sysctl.d/.zz.conf": "%s = 700\n" % TIME},
        boot.INIT_SYSTEMD,
        7200,
        "kernel default",
        [],
    ),
    (
        "hidden-file-applied-by-procps",
        {"/etc/sysctl.d/.zz.conf": "%s = 700\n" % TIME},
        boot.INIT_PROCPS,
        700,
        "/etc/sysctl.d/.zz.conf:1",
        [],
    ),
]


@pytest.mark.parametrize(
    "files, init, value, source, problems", [c[1:] for c in INITS], ids=[c[0] for c in INITS]
)
def test_boot_init_rules(tmp_path, files, init, value, source, problems):
    build_tree(tmp_path, files)
    model = boot.boot_assignments(str(tmp_path), keys=KEYS, init=init)
    booted = boot.boot_values(model, DEFAULTS)[TIME]
    assert (booted["value"], booted["source"]) == (value, source)
    assert [(p["file"], p["line"]) for p in model["problems"]] == problems
    assert model["init"] == init


def test_unread_sysctl_conf_problem_says_what_to_do(tmp_path):
    build_tree(tmp_path, {"/etc/sysctl.conf": "%s = 800\n" % TIME})
    problems = boot.boot_assignments(str(tmp_path), keys=KEYS, init=boot.INIT_SYSTEMD)["problems"]
    assert "never applied at boot; put them in a file in /etc/sysctl.d" in problems[0]["reason"]
    assert problems[1]["reason"].startswith("%s = 800: never applied at boot; " % TIME)
    assert "systemd-sysctl does not read /etc/sysctl.conf" in problems[1]["reason"]


def test_sysctl_conf_written_by_us_is_unread_under_systemd(tmp_path):
    """path=/etc/sysctl.conf on trixie: the model after the change says it will not apply."""
    overrides = {"/etc/sysctl.conf": "%s = 600\n" % TIME}
    model = boot.boot_assignments(str(tmp_path), overrides, keys=KEYS, init=boot.INIT_SYSTEMD)
    assert boot.boot_values(model, DEFAULTS)[TIME]["source"] == "kernel default"
    assert [(p["file"], p["line"]) for p in model["problems"]] == [
        ("/etc/sysctl.conf", None),
        ("/etc/sysctl.conf", 1),
    ]


def test_tricky_tree_same_answer_from_both_inits(tmp_path):
    """A /dev/null mask in /etc over /usr/lib, a /run file, a later override: both agree."""
    build_tree(
        tmp_path,
        {
            OURS: OURS_TEXT,
            "/usr/lib/sysctl.d/95-vendor.conf": "%s = 30\n" % INTVL,
            "/etc/sysctl.d/95-vendor.conf": ("link", "/dev/null"),
            "/run/sysctl.d/70-run.conf": "%s = 7\n" % PROBES,
            "/etc/sysctl.d/80-later.conf": "%s = 650\n" % TIME,
        },
    )
    for init in boot.BOOT_INITS:
        model = boot.boot_assignments(str(tmp_path), keys=KEYS, init=init)
        values = boot.boot_values(model, DEFAULTS)
        assert {k: v["source"] for k, v in values.items()} == {
            TIME: "/etc/sysctl.d/80-later.conf:1",
            INTVL: "kernel default",
            PROBES: "/run/sysctl.d/70-run.conf:1",
        }
        assert model["masked"] == [
            {
                "file": "/usr/lib/sysctl.d/95-vendor.conf",
                "masked_by": "/etc/sysctl.d/95-vendor.conf",
                "dev_null": True,
            }
        ]
