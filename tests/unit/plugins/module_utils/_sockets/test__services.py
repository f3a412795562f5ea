"""sshd -T output and the heartbeat it gives; the reader's graceful refusals (real calls)."""

from __future__ import annotations

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _services

SSHD_T = """port 22
clientaliveinterval 60
clientalivecountmax 2
tcpkeepalive no
permitrootlogin prohibit-password
"""


def test_parse_sshd_t():
    assert _services.parse_sshd_t(SSHD_T) == {
        "clientaliveinterval": 60,
        "clientalivecountmax": 2,
        "tcpkeepalive": False,
    }
    assert _services.parse_sshd_t("clientaliveinterval x\ntcpkeepalive yes\n") == {
        "tcpkeepalive": True
    }


def test_heartbeat_of_settings():
    assert _services.sshd_heartbeat(_services.parse_sshd_t(SSHD_T)) == {
        "service": "sshd",
        "name": "sshd",
        "interval": 60,
        "count_max": 2,
        "tcp_keepalive": False,
        "source": "sshd -T",
        "label": "sshd's ClientAlive heartbeat",
    }
    # ClientAliveInterval 0 (the default): no heartbeat, SO_KEEPALIVE decides.
    assert _services.sshd_heartbeat({"clientaliveinterval": 0, "tcpkeepalive": True}) is None


def test_reader_says_why_it_has_nothing(tmp_path):
    assert _services.read_sshd(binary=str(tmp_path / "sshd")) == (
        None,
        "%s -T: [Errno 2] No such file or directory: '%s'" % (tmp_path / "sshd", tmp_path / "sshd"),
    )
    assert _services.find_sshd([str(tmp_path / "none")]) is None
    # A program that fails: its last stderr line is the reason.
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho first >&2\necho 'bad config line 3' >&2\nexit 255\n")
    failing.chmod(0o755)
    settings, reason = _services.read_sshd(binary=str(failing))
    assert settings is None and reason.startswith("%s -T failed: bad config line 3" % failing)
    # One that hangs is given up on.
    hanging = tmp_path / "hanging"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    assert _services.read_sshd(binary=str(hanging), timeout=0.2) == (
        None,
        "%s -T did not answer within 0.2 s" % hanging,
    )
    # Output without the key: nothing to judge.
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\necho port 22\n")
    silent.chmod(0o755)
    assert _services.read_sshd(binary=str(silent), config="/etc/x") == (
        None,
        "%s -T -f /etc/x printed no clientaliveinterval" % silent,
    )
