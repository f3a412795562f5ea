"""Validation of keepalive_sysctl options: every bad value gets option, value and range."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._params import (
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
        ("", "is not a plain absolute path"),
        (" /etc/sysctl.d/60-k.conf", "is not a plain absolute path"),
        ("/etc/sysctl.d/", "is not a plain absolute path"),
        ("/etc/sysctl.d/60-k.conf\n", "only *.conf files are read at boot"),
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
    [
        ("0644", 0o644),
        ("644", 0o644),
        (" 0640 ", 0o640),
        ("0600", 0o600),
        ("0400", 0o400),
        ("0755", 0o755),
        # what YAML makes of an unquoted 0644, 0600, 0640, 0400, 0444: the mode's value
        (0o644, 0o644),
        (0o600, 0o600),
        (0o640, 0o640),
        (0o400, 0o400),
        (0o444, 0o444),
    ],
)
def test_good_modes(mode, expected):
    assert check_mode_value(mode) == expected


@pytest.mark.parametrize(
    "mode", ["rw-r--r--", "0999", "u=rw", True, False, -1, 0o17777, None, 6.44, "0o644", "", [420]]
)
def test_bad_modes(mode):
    with pytest.raises(KeepaliveError) as err:
        check_mode_value(mode)
    assert str(err.value).startswith("mode=%r is not a file mode" % (mode,))
    assert "allowed: an octal string such as '0644'" in str(err.value)


@pytest.mark.parametrize(
    "mode, quoted, value",
    [
        (644, "0644", "01204"),
        (600, "0600", "01130"),
        (640, "0640", "01200"),
        (400, "0400", "0620"),
        (755, "0755", "01363"),
        (444, "0444", "0674"),
    ],
)
def test_unquoted_decimal_mode_is_a_forgotten_quote(mode, quoted, value):
    with pytest.raises(KeepaliveError) as err:
        check_mode_value(mode)
    assert str(err.value).startswith(
        "mode=%d is the decimal number %d (mode %s), not the octal %s it looks like "
        "(YAML reads an unquoted 644 as decimal); quote it: '%s'"
        % (mode, mode, value, quoted, quoted)
    )


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("0666", "lets group or other users write the file"),
        ("0664", "lets group or other users write the file"),
        ("0646", "lets group or other users write the file"),
        (0o666, "lets group or other users write the file"),
        ("7777", "has a setuid, setgid or sticky bit"),
        ("01644", "has a setuid, setgid or sticky bit"),
        ("4644", "has a setuid, setgid or sticky bit"),
        ("2644", "has a setuid, setgid or sticky bit"),
        ("0000", "gives the owner no read permission"),
        ("0200", "gives the owner no read permission"),
        ("0044", "gives the owner no read permission"),
        (0, "gives the owner no read permission"),
    ],
)
def test_unsafe_modes(mode, reason):
    with pytest.raises(KeepaliveError) as err:
        check_mode_value(mode)
    text = str(err.value)
    assert text.startswith("mode=%r (0%03o) %s" % (mode, _as_number(mode), reason))
    assert "allowed: an octal string such as '0644', '0640' or '0600'" in text
    assert text.endswith("nothing was changed") and err.value.details["option"] == "mode"


def _as_number(mode):
    return int(mode, 8) if isinstance(mode, str) else mode


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


def test_empty_path_is_not_the_default():
    with pytest.raises(KeepaliveError) as err:
        validate({"tcp_keepalive_time": 600, "path": ""})
    assert str(err.value).startswith("path='' is not a plain absolute path")


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
