"""Parameters of the test lab (tests/lab/lab.py): validation and collision-free defaults.

Pure logic only; no root, no namespaces. The lab itself is exercised by
tests/integration/test_lab.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from lab import DEFAULT_SUBNET, REPO_ROOT, Lab, LabError, default_subnet  # noqa: E402


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "NK"}, "prefix='NK': use 1-8 lower-case"),
        ({"prefix": "1nk"}, "prefix='1nk'"),
        ({"prefix": "toolongpx"}, "prefix='toolongpx'"),
        ({"bridge": "a-bridge-name-too-long"}, "bridge='a-bridge-name-too-long'"),
        ({"subnet": "10.231"}, "subnet='10.231': give the first three octets"),
        ({"subnet": "10.231.0.0"}, "subnet='10.231.0.0'"),
        ({"subnet": "10.300.0"}, "subnet='10.300.0'"),
    ],
)
def test_bad_parameters_are_refused_with_the_value_and_the_rule(tmp_path, kwargs, message):
    with pytest.raises(LabError, match=message.replace("(", r"\(")):
        Lab(state_dir=tmp_path / "s", **kwargs)


@pytest.mark.parametrize(
    ("prefix", "bridge", "subnet", "state_dir"),
    [
        ("nk", "nkbr0", DEFAULT_SUBNET, REPO_ROOT / ".cache" / "lab" / "nk"),
        ("demo", "demobr0", default_subnet("demo"), REPO_ROOT / ".cache" / "lab" / "demo"),
    ],
)
def test_defaults_follow_the_prefix(prefix, bridge, subnet, state_dir):
    lab = Lab(prefix=prefix)

    assert (lab.bridge, lab.subnet, lab.state_dir) == (bridge, subnet, state_dir)


def test_different_prefixes_get_different_subnets():
    prefixes = ["nk", "demo", "ci", "t1234a1", "t1234a2", "bench"]

    assert len({default_subnet(p) for p in prefixes}) == len(prefixes)


def test_hosts_have_fixed_addresses_and_macs(tmp_path):
    lab = Lab(state_dir=tmp_path, prefix="ab", subnet="10.240.7")
    lab._save_state(2)

    assert [(h.name, h.address, h.netns, h.port) for h in lab.hosts] == [
        ("ab-h1", "10.240.7.2", "ab-h1", 22),
        ("ab-h2", "10.240.7.3", "ab-h2", 22),
    ]
    assert lab._mac(1, 2) == "02:0a:f0:07:01:02"


def test_commands_after_up_reuse_the_recorded_parameters(tmp_path):
    Lab(state_dir=tmp_path, prefix="ab", bridge="abbr9", subnet="10.240.7")._save_state(1)

    again = Lab(state_dir=tmp_path)

    assert (again.prefix, again.bridge, again.subnet) == ("ab", "abbr9", "10.240.7")
    with pytest.raises(LabError, match="subnet='10.9.9' differs from '10.240.7' recorded"):
        Lab(state_dir=tmp_path, subnet="10.9.9")


def test_inventory_has_every_connection_variable_and_extra_host_vars(tmp_path):
    lab = Lab(state_dir=tmp_path, prefix="ab", subnet="10.240.7")
    lab._save_state(2)

    text = lab.write_inventory(host_vars={"ab-h2": {"profile": "aws-nlb", "ports": [1, 2]}})

    lines = Path(text).read_text().splitlines()
    assert lines[1:5] == ["all:", "  children:", "    lab:", "      hosts:"]
    h1 = lines[lines.index("        ab-h1:") + 1 : lines.index("        ab-h2:")]
    assert dict(line.strip().split(": ", 1) for line in h1) == {
        "ansible_host": json.dumps("10.240.7.2"),
        "ansible_port": "22",
        "ansible_user": json.dumps("root"),
        "ansible_ssh_private_key_file": json.dumps(str(tmp_path / "id_ed25519")),
        "ansible_ssh_common_args": json.dumps(
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
            "-o IdentitiesOnly=yes -o ConnectTimeout=10"
        ),
        "ansible_python_interpreter": json.dumps("/usr/bin/python3"),
    }
    assert '          profile: "aws-nlb"' in lines
    assert "          ports: [1, 2]" in lines
    with pytest.raises(LabError, match="host_vars for unknown hosts: zz-h1"):
        lab.write_inventory(host_vars={"zz-h1": {}})
