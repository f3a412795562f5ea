"""Validation of keepalive_sysctl options: every bad value gets option, value and range."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl_params import (
    DEFAULT_PATH,
    argument_spec,
    check_keepalive_value,
    check_mode_value,
    check_path,
    validate,
)


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("tcp_keepalive_time", 1, 1),
        ("tcp_keepalive_time", 32767, 32767),
        ("tcp_keepalive_time", "600", 600),
        ("tcp_keepalive_time", " 600 ", 600),
        ("tcp_keepalive_intvl", 75, 75),
        ("tcp_keepalive_probes", 127, 127),
        ("tcp_keepalive_probes", "9", 9),
    ],
)
def test_good_values(option, value, expected):
    assert check_keepalive_value(option, value) == expected


@pytest.mark.parametrize(
    "option, value, message",
    [
        (
            "tcp_keepalive_time",
            0,
            "tcp_keepalive_time=0 is out of range; allowed: a whole number of seconds in 1..32767",
        ),
        ("tcp_keepalive_time", 32768, "tcp_keepalive_time=32768 is out of range"),
        ("tcp_keepalive_time", -5, "tcp_keepalive_time=-5 is out of range"),
        (
            "tcp_keepalive_intvl",
            40000,
            "tcp_keepalive_intvl=40000 is out of range; allowed: "
            "a whole number of seconds in 1..32767",
        ),
        (
            "tcp_keepalive_probes",
            128,
            "tcp_keepalive_probes=128 is out of range; allowed: a whole number of probes in 1..127",
        ),
        ("tcp_keepalive_probes", "0", "tcp_keepalive_probes=0 is out of range"),
        ("tcp_keepalive_time", True, "tcp_keepalive_time=True is a boolean"),
        ("tcp_keepalive_probes", False, "tcp_keepalive_probes=False is a boolean"),
        ("tcp_keepalive_time", "1.5", "tcp_keepalive_time='1.5' is not a whole number"),
        ("tcp_keepalive_time", 1.5, "tcp_keepalive_time=1.5 is not a whole number"),
        ("tcp_keepalive_time", 600.0, "tcp_keepalive_time=600.0 is not a whole number"),
        ("tcp_keepalive_intvl", "abc", "tcp_keepalive_intvl='abc' is not a whole number"),
        ("tcp_keepalive_intvl", "", "tcp_keepalive_intvl='' is not a whole number"),
        ("tcp_keepalive_intvl", "-1", "tcp_keepalive_intvl='-1' is not a whole number"),
        ("tcp_keepalive_probes", "yes", "tcp_keepalive_probes='yes' is not a whole number"),
        ("tcp_keepalive_probes", [5], "tcp_keepalive_probes=[5] is not a whole number"),
    ],
)
def test_bad_values(option, value, message):
    with pytest.raises(KeepaliveError) as err:
        check_keepalive_value(option, value)
    assert message in str(err.value)
    assert "nothing was changed" in str(err.value)
    assert err.value.details["option"] == option


@pytest.mark.parametrize(
    "path",
    [
        DEFAULT_PATH,
        "/etc/sysctl.d/99-zzz-keepalive.conf",
        "/run/sysctl.d/60-k.conf",
        "/usr/local/lib/sysctl.d/60-k.conf",
        "/usr/lib/sysctl.d/60-k.conf",
        "/lib/sysctl.d/60-k.conf",
    ],
)
def test_good_paths(path):
    check_path(path)


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/etc/sysctl.conf", "outside the sysctl.d directories"),
        ("/etc/sysctl.d/sub/60-k.conf", "outside the sysctl.d directories"),
        ("/tmp/60-k.conf", "outside the sysctl.d directories"),
        ("/etc/sysctl.d/60-k", "only *.conf files are read at boot"),
        ("/etc/sysctl.d/60-k.conf.bak", "only *.conf files are read at boot"),
        ("/etc/sysctl.d/.conf", "only *.conf files are read at boot"),
        ("/etc/sysctl.d/.hidden.conf", "only *.conf files are read at boot"),
        ("etc/sysctl.d/60-k.conf", "is not a plain absolute path"),
        ("/etc/sysctl.d/../sysctl.d/60-k.conf", "is not a plain absolute path"),
        ("/etc//sysctl.d/60-k.conf", "is not a plain absolute path"),
    ],
)
def test_bad_paths(path, reason):
    with pytest.raises(KeepaliveError) as err:
        check_path(path)
    assert "path=%r" % path in str(err.value)
    assert reason in str(err.value)
    assert "a *.conf file directly inside one of /etc/sysctl.d" in str(err.value)


@pytest.mark.parametrize(
    "mode, expected",
    [("0644", 0o644), ("644", 0o644), ("0600", 0o600), ("01644", 0o1644), (0o640, 0o640)],
)
def test_good_modes(mode, expected):
    assert check_mode_value(mode) == expected


@pytest.mark.parametrize("mode", ["rw-r--r--", "0999", "u=rw", True, -1, 0o17777, None])
def test_bad_modes(mode):
    with pytest.raises(KeepaliveError) as err:
        check_mode_value(mode)
    assert str(err.value).startswith("mode=%r is not a file mode" % (mode,))


def test_non_linux_is_refused():
    with pytest.raises(KeepaliveError) as err:
        validate({"tcp_keepalive_time": 600}, platform_name="freebsd14")
    assert "'freebsd14'" in str(err.value)
    assert "Linux only" in str(err.value)


def test_present_needs_a_value():
    with pytest.raises(KeepaliveError) as err:
        validate({"state": "present"})
    assert "state=present needs at least one of tcp_keepalive_time" in str(err.value)


def test_unknown_netns():
    with pytest.raises(KeepaliveError) as err:
        validate({"tcp_keepalive_time": 600, "netns": "netstack-no-such-ns"})
    assert "netns='netstack-no-such-ns': no such network namespace" in str(err.value)


def test_validate_returns_settings():
    settings = validate({"tcp_keepalive_time": "600", "tcp_keepalive_probes": 5, "mode": "0640"})
    assert settings["wanted"] == {"tcp_keepalive_time": 600, "tcp_keepalive_probes": 5}
    assert (settings["path"], settings["mode"], settings["on_shadowed"]) == (
        DEFAULT_PATH,
        0o640,
        "fail",
    )
    assert settings["netns_path"] is None


def test_argument_spec_defaults_match_validate_defaults():
    spec = argument_spec()
    assert spec["path"]["default"] == DEFAULT_PATH
    assert spec["on_shadowed"]["default"] == validate({"tcp_keepalive_time": 1})["on_shadowed"]
    assert {spec[o]["type"] for o in spec if o.startswith("tcp_")} == {"raw"}
