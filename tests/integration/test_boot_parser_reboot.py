"""The boot model's value parser against real reboots of a lab host.

Each round writes "our" file with plain values for four keys and a later file with one
tricky line per key, asks the model (run inside the host, over the host's own tree, with
the host's python) what the keys will hold, reboots the host (procps ``sysctl --system``
writes every value into the kernel of a fresh network namespace) and compares /proc/sys
with the prediction, key by key. Then: a FIFO in /etc/sysctl.d (model only, see there) and
the merged-/usr layout (/lib -> usr/lib) with the real module, run twice, and a reboot.

Run with ``-s`` to see the table of every case: model value, booted value.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _in_host  # noqa: E402

LAB_HOSTS = 1
pytestmark = pytest.mark.lab

MODULE = "netstack.keepalive.keepalive_sysctl"
TIME = "net.ipv4.tcp_keepalive_time"
INTVL = "net.ipv4.tcp_keepalive_intvl"
PROBES = "net.ipv4.tcp_keepalive_probes"
RETRIES2 = "net.ipv4.tcp_retries2"
KEYS = (TIME, INTVL, PROBES, RETRIES2)
DEFAULTS = {TIME: 7200, INTVL: 75, PROBES: 9, RETRIES2: 15}
OURS = "/etc/sysctl.d/60-ours.conf"
OURS_VALUES = {TIME: 601, INTVL: 31, PROBES: 5, RETRIES2: 7}
LATER = "/etc/sysctl.d/70-later.conf"
KEY_OF_OPTION = {key.rsplit(".", 1)[1]: key for key in KEYS}

# Lines for the jiffies keys (time, intvl); "{k}" is the key. Values chosen so that none
# the kernel takes equals ours.
JIFFIES_LINES = [
    "{k} = 4 # ops",
    "{k} = 010",
    "{k} = 0x20",
    "{k} = 0X1F",
    "{k} = 300 400",
    "{k} = 45\0junk",
    "{k}\0 = 44",
    "{k} = 50\r",
    "{k} = 46\r47",
    "{k} =\r48",
    "{k} = 08",
    "{k} = 0x",
    "{k} = 0x1g",
    "{k} = 0 x1",
    "{k} = 7abc",
    "{k} = 1 \v 2",
    "{k} = 56\v57",
    "{k} = 69\xa0",
    "{k} =",
    "{k} =   ",
    "={k}=51",
    "{k} == 53",
    "{k} = 54 = 55",
    "-{k} = 61",
    "- {k} = 62",
    "{k}   # x = 64",
    "{k} = +5",
    "{k} = -5",
    "{k} = -0",
    "{k} = 8589934",
    "{k} = 8589935",
    "{k} = -8589935",
    "{k} = 00000000000000000005",
    "{k} = 000000000000000000005",
    "{k} = -0000000000000000006",
    "{k} = 99999999999999999999",
]
# Lines for the u8 keys (probes, retries2).
U8_LINES = [
    "{k} = 0",
    "{k} = 255",
    "{k} = 256",
    "{k} = -1",
    "{k} = -0",
    "{k} = 4 junk",
    "{k} = 0x10",
    "{k} = 010 x",
    "{k} = 4294967296",
    "{k} = 012\0 7",
    "{k} = 0x1g",
    "{k} = 3;",
]
ROUNDS = max((len(JIFFIES_LINES) + 1) // 2, (len(U8_LINES) + 1) // 2)

# Run inside the host: the model over the host's own tree, kernel and /run masks.
MODEL_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import _boot as boot
args = json.loads(sys.argv[2])
model = boot.boot_assignments("/", keys=args["keys"])
print(json.dumps({
    "values": boot.boot_values(model, args["defaults"]),
    "shadowing": boot.shadowing(model, args["ours"], args["keys"]),
    "problems": model["problems"],
    "masked": model["masked"],
    "kernel": boot.kernel_facts("/"),
}))
"""
# Run inside the host: write (base64 text) or remove (null) each path.
WRITE_SCRIPT = r"""
import base64, json, os, sys
for path, data in json.load(sys.stdin).items():
    if data is None:
        if os.path.lexists(path):
            os.remove(path)
    else:
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
"""


def put_files(lab, host, files):
    """Write ``{path: text or None}`` inside the host (NUL, CR and all)."""
    payload = {
        path: None if text is None else base64.b64encode(text.encode("utf-8")).decode()
        for path, text in files.items()
    }
    lab.run(host, ["/usr/bin/python3", "-c", WRITE_SCRIPT], input=json.dumps(payload), check=True)


def model_in_host(lab, host, ours, timeout=60):
    args = {"keys": list(KEYS), "defaults": DEFAULTS, "ours": ours}
    done = lab.run(
        host,
        [_in_host.HOST_PYTHON, "-c", MODEL_SCRIPT, _in_host.HOST_SITE, json.dumps(args)],
        check=True,
        timeout=timeout,
    )
    return json.loads(done.stdout)


def booted_values(lab, host):
    paths = " ".join("/proc/sys/" + key.replace(".", "/") for key in KEYS)
    done = lab.run(host, "cat " + paths, check=True)
    return dict(zip(KEYS, map(int, done.stdout.split()), strict=True))


def round_lines(index):
    """The tricky line of each key in round ``index`` (a key may have none)."""
    picks = {
        TIME: JIFFIES_LINES[2 * index : 2 * index + 1],
        INTVL: JIFFIES_LINES[2 * index + 1 : 2 * index + 2],
        PROBES: U8_LINES[2 * index : 2 * index + 1],
        RETRIES2: U8_LINES[2 * index + 1 : 2 * index + 2],
    }
    return {key: lines[0].format(k=key) for key, lines in picks.items() if lines}


def ours_text():
    return "".join("%s = %d\n" % (key, value) for key, value in OURS_VALUES.items())


@pytest.fixture(scope="module")
def host(lab):
    name = lab.hosts[0].name
    _in_host.install(lab, name)  # the model runs inside the host, over its own tree
    return name


@pytest.fixture(scope="module")
def table():
    rows = []
    yield rows
    print("\n%-32s %-44s %8s %8s %s" % ("key", "line", "model", "booted", "model says"))
    for key, line, model, booted, says in rows:
        print("%-32s %-44r %8s %8s %s" % (key, line, model, booted, says))


def test_every_tricky_value_boots_as_the_model_says(lab, host, table):
    started = time.monotonic()
    shadowing_seen = refusals_seen = 0
    for index in range(ROUNDS):
        lines = round_lines(index)
        later = "# one tricky line per key\n" + "".join(line + "\n" for line in lines.values())
        put_files(lab, host, {OURS: ours_text(), LATER: later})
        model = model_in_host(lab, host, OURS)
        lab.reboot(host)
        booted = booted_values(lab, host)
        shadowed = {(e["key"], e["line"]) for e in model["shadowing"]}
        problem_lines = {p["line"] for p in model["problems"] if p["file"] == LATER}
        for position, (key, line) in enumerate(lines.items(), start=2):
            predicted = model["values"][key]
            table.append((key, line, predicted["value"], booted[key], predicted["source"]))
            assert booted[key] == predicted["value"], (key, line, model)
            if predicted["source"] == "%s:%d" % (LATER, position):
                assert (key, position) in shadowed  # a tricky later value overrides ours
                shadowing_seen += 1
            else:
                assert predicted["value"] == OURS_VALUES[key]
            if position in problem_lines:
                refusals_seen += 1
    assert shadowing_seen >= 20 and refusals_seen >= 20  # both kinds really were tested
    assert model["kernel"]["hz"] is not None  # the host's kernel config was read
    print("\n%d rounds with reboot in %.1f s" % (ROUNDS, time.monotonic() - started))
    put_files(lab, host, {OURS: None, LATER: None})


# (our file, the later file): globs set only keys that no line names exactly; procps 4.0.2
# excludes ("-key" alone) exact names only.
GLOB_LAYOUTS = [
    ("%s = 601\n" % TIME, "net.ipv4.tcp_keepalive_* = 33\n"),
    (
        "%s = 601\n" % TIME,
        "-%s\nnet.ipv4.tcp_[kr]e*[lsl2] = 300\n" % PROBES,  # retries2: 300 is refused
    ),
    ("%s = 601\n" % INTVL, "-net.ipv4.tcp_keepalive_*\nnet/ipv4/tcp_keepalive_?robes = 3\n"),
]


@pytest.mark.parametrize(
    "ours, later", GLOB_LAYOUTS, ids=["glob", "exclude-exact", "no-glob-exclude"]
)
def test_globs_boot_as_the_model_says(lab, host, table, ours, later):
    put_files(lab, host, {OURS: ours, LATER: later})
    model = model_in_host(lab, host, OURS)
    lab.reboot(host)
    booted = booted_values(lab, host)
    for key in KEYS:
        table.append((key, later, model["values"][key]["value"], booted[key], "glob layout"))
    assert booted == {key: v["value"] for key, v in model["values"].items()}
    assert booted != DEFAULTS and model["shadowing"] == []
    put_files(lab, host, {OURS: None, LATER: None})


def test_fifo_in_sysctl_d_is_reported_promptly(lab, host):
    # Never reboot with the FIFO present: the lab boots with procps 'sysctl --system', which
    # opens the FIFO for reading and blocks until a writer comes (the host would not boot).
    fifo = "/etc/sysctl.d/75-fifo.conf"
    put_files(lab, host, {OURS: ours_text()})
    lab.run(host, ["mkfifo", fifo], check=True)
    try:
        started = time.monotonic()
        model = model_in_host(lab, host, OURS, timeout=20)
        elapsed = time.monotonic() - started
    finally:
        put_files(lab, host, {fifo: None, OURS: None})
    assert elapsed < 10
    assert [(p["file"], p["line"]) for p in model["problems"]] == [(fifo, None)]
    assert model["problems"][0]["reason"].startswith("is a FIFO (named pipe), not a regular file")
    assert {k: v["value"] for k, v in model["values"].items()} == OURS_VALUES


def test_merged_usr_path_is_idempotent_and_boots(lab, host, ansible_module):
    lib_link = lab.run(host, ["readlink", "/lib"]).stdout.strip()
    if lib_link != "usr/lib":
        pytest.skip("/lib on the lab host is not a link to usr/lib (%r)" % lib_link)
    path = "/lib/sysctl.d/90-x.conf"
    args = {"path": path, "tcp_keepalive_time": 602, "tcp_keepalive_probes": 4, "tcp_retries2": 9}
    first = ansible_module(MODULE, args, pattern=host).by_host[host]
    second = ansible_module(MODULE, args, pattern=host).by_host[host]
    assert first.changed and not first.failed, first
    assert not second.changed and not second.failed, second
    assert second["shadowed_by"] == []
    model = model_in_host(lab, host, path)
    assert model["shadowing"] == []
    assert [m for m in model["masked"] if m["file"].endswith("/90-x.conf")] == []
    assert model["values"][TIME]["source"] == "/usr/lib/sysctl.d/90-x.conf:3"
    assert model["values"][RETRIES2]["source"] == "/usr/lib/sysctl.d/90-x.conf:5"
    predicted = {KEY_OF_OPTION[o]: v["value"] for o, v in second["boot_values"].items()}
    lab.reboot(host)
    booted = booted_values(lab, host)
    assert booted == dict(DEFAULTS, **{TIME: 602, PROBES: 4, RETRIES2: 9}) == predicted

    # A /dev/null link of the same name in /etc masks the file under either spelling.
    lab.run(host, ["ln", "-s", "/dev/null", "/etc/sysctl.d/90-x.conf"], check=True)
    for spelling in (path, "/usr/lib/sysctl.d/90-x.conf"):
        found = model_in_host(lab, host, spelling)["shadowing"]
        assert [(e["file"], e["key"]) for e in found] == [("/etc/sysctl.d/90-x.conf", None)]
        assert found[0]["reason"].startswith("masks %s (a link to /dev/null" % spelling)
    lab.reboot(host)
    assert booted_values(lab, host) == DEFAULTS
    put_files(lab, host, {"/etc/sysctl.d/90-x.conf": None, path: None})
