"""The sysctl.d boot-precedence model, on fake trees (sysctl.d(5), procps sysctl --system)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils import _sysctl_boot as boot

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
        {"file": "/usr/lib/sysctl.d/10-a.conf", "masked_by": "/etc/sysctl.d/10-a.conf"}
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
def test_normalize_key(raw, key):
    assert boot.normalize_key(raw) == key


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
        ("a.b =\n", [(1, None, None, None)]),
        ("= 1\n", [(1, None, None, None)]),
    ],
)
def test_parse_sysctl_text(text, parsed):
    entries = boot.parse_sysctl_text(text)
    got = [(e["line"], e["key"], e.get("value"), e.get("ignore_failure")) for e in entries]
    assert got == parsed
