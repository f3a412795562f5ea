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
    check_retries2_value,
    module_kwargs,
    retries2_warning,
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


@pytest.mark.parametrize("value, expected", [(3, 3), (8, 8), (15, 15), (255, 255), ("8", 8)])
def test_good_retries2(value, expected):
    assert check_retries2_value(value) == expected


RETRIES2_ALLOWED = (
    "allowed: a whole number of retransmissions in 3..255 (the kernel takes 0..255; below 3 "
    "is refused); nothing was changed"
)


@pytest.mark.parametrize(
    "value, message",
    [
        (
            0,
            "tcp_retries2=0 is refused: the kernel would give up on a connection with "
            "unacknowledged data after about 0.2 s of unanswered retransmissions",
        ),
        (1, "tcp_retries2=1 is refused: the kernel would give up on a connection"),
        (
            2,
            "tcp_retries2=2 is refused: the kernel would give up on a connection with "
            "unacknowledged data after about 1.4 s of unanswered retransmissions, so a short "
            "loss burst or a slow peer drops every busy connection; RFC 1122 asks for at least "
            "100 s (tcp_retries2=8 or more)",
        ),
        ("2", "tcp_retries2=2 is refused"),
        (256, "tcp_retries2=256 is out of range"),
        (-1, "tcp_retries2=-1 is out of range"),
        (10**30, "tcp_retries2=%d is out of range" % 10**30),
        (True, "tcp_retries2=True is a boolean"),
        (False, "tcp_retries2=False is a boolean"),
        (8.0, "tcp_retries2=8.0 is not a whole number"),
        ("0x10", "tcp_retries2='0x10' is not a whole number"),
        ("-3", "tcp_retries2='-3' is not a whole number"),
        ("", "tcp_retries2='' is not a whole number"),
        ([8], "tcp_retries2=[8] is not a whole number"),
    ],
)
def test_bad_retries2(value, message):
    with pytest.raises(KeepaliveError) as err:
        check_retries2_value(value)
    assert message in str(err.value)
    assert str(err.value).endswith(RETRIES2_ALLOWED)
    assert err.value.details["option"] == "tcp_retries2"


@pytest.mark.parametrize(
    "value, seconds", [(3, "3"), (5, "12.6"), (7, "51"), (8, None), (15, None), (255, None)]
)
def test_retries2_warning_below_rfc1122(value, seconds):
    warning = retries2_warning(value)
    if seconds is None:
        assert warning is None
    else:
        assert warning.startswith(
            "tcp_retries2=%d: the kernel gives up on a connection with unacknowledged data "
            "after about %s s of unanswered retransmissions" % (value, seconds)
        )


def test_retries2_is_optional_and_enough_for_present():
    assert validate({"tcp_retries2": "9"})["wanted"] == {"tcp_retries2": 9}
    assert "tcp_retries2" not in validate({"tcp_keepalive_time": 60})["wanted"]
    assert argument_spec()["tcp_retries2"] == {"type": "raw"}
    assert module_kwargs()["required_if"][0][2][-1] == "tcp_retries2"
    with pytest.raises(KeepaliveError) as err:
        validate({"state": "present"})
    assert "tcp_keepalive_probes, tcp_retries2; nothing was changed" in str(err.value)


def test_bad_retries2_is_refused_with_state_absent_too():
    with pytest.raises(KeepaliveError) as err:
        validate({"state": "absent", "tcp_retries2": 300})
    assert str(err.value).startswith("tcp_retries2=300 is out of range")
