"""The ansible-pull recipe of docs/fleet.md on real lab hosts: each host checks out the
repository (a local git clone made by this test, copied into the host: the hosts do not see
the machine's /tmp), audits itself with the audit playbook into its drop folder, and
keepalive_report merges the drop folder into one fleet report with every host, whose values
are those a central audit over ssh reads.

ansible-core runs inside the hosts with the host's own /usr/bin/python3: its packages are
copied in from the project's venv (ansible-pull runs `ansible` and `ansible-playbook` from its
own bin folder, which gets small launchers)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import ansible
import pytest

LAB_HOSTS = 2
pytestmark = pytest.mark.lab
SITE_PACKAGES = Path(ansible.__file__).resolve().parent.parent
# ansible-core and what it imports; cffi backs cryptography.
PACKAGES = ("ansible", "jinja2", "markupsafe", "yaml", "_yaml", "packaging", "resolvelib",
            "cryptography", "cffi", "_cffi_backend.cpython-311-x86_64-linux-gnu.so")  # fmt: skip
# Their metadata too: ansible-core asks importlib.metadata for versions.
DISTRIBUTIONS = ("ansible_core", "jinja2", "markupsafe", "pyyaml", "packaging", "resolvelib",
                 "cryptography", "cffi")  # fmt: skip
TOOLS = "/opt/netstack-keepalive-pull-tools"
SITE = "/opt/netstack-keepalive-site"
PULL_ROOT = "/var/lib/netstack-keepalive/pull"
CHECKOUT = PULL_ROOT + "/ansible_collections/netstack/keepalive"
DROP = "/var/lib/netstack-keepalive/drop"
CLIS = {"ansible": "adhoc", "ansible-playbook": "playbook", "ansible-pull": "pull"}
VARIABLES = [
    {"tcp_keepalive_profile": "cloud", "tcp_keepalive_path": ["aws_nlb", "aws_nat_gateway"]},
    {"tcp_keepalive_profile": "database", "tcp_keepalive_path": ["azure_lb_standard"]},
]
# What a host's own audit and a central one read alike (the sockets differ: a central audit
# holds an ssh connection to the host, ansible-pull runs locally).
SAME_KEYS = ("profile", "path", "intended", "runtime", "after", "boot_values", "shadowed_by",
             "file", "mode", "check_mode", "changed", "detection_seconds", "retries2")  # fmt: skip


def _add_bytes(tar, name, data, mode=0o755):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _skip_cache(info):
    return None if "__pycache__" in info.name else info


def tools_bundle():
    """ansible-core's packages and launchers for the host's python, as base64 of a tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in PACKAGES:
            if (SITE_PACKAGES / name).exists():
                tar.add(str(SITE_PACKAGES / name), "lib/" + name, filter=_skip_cache)
        for name in DISTRIBUTIONS:
            for found in SITE_PACKAGES.glob(name + "-*.dist-info"):
                tar.add(str(found), "lib/" + found.name)
        for command, module in CLIS.items():
            launcher = (
                "#!/usr/bin/python3\nimport sys\nsys.path.insert(0, %r)\n" % (TOOLS + "/lib")
                + "from ansible.cli.%s import main\nsys.exit(main())\n" % module
            )
            _add_bytes(tar, "bin/" + command, launcher.encode())
    return base64.b64encode(buffer.getvalue()).decode()


def site_bundle(tmp_path):
    """A git clone of this repository (its committed HEAD), as base64 of a tar.gz."""
    clone = tmp_path / "site"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(Path(__file__).parents[2]),
                    str(clone)], check=True, timeout=120)  # fmt: skip
    # ansible-pull checks out a branch: name one even when this checkout's HEAD is detached.
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", "-B", "keepalive-site"],
                   check=True, timeout=60)  # fmt: skip
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(str(clone), ".")
    return base64.b64encode(buffer.getvalue()).decode()


def copy_in(lab, host, folder, bundle):
    lab.run(host, "rm -rf %s && mkdir -p %s && base64 -d | tar -xz -C %s" % ((folder,) * 3),
            input=bundle, check=True, timeout=120)  # fmt: skip


def sysctl_hash(lab, host):
    state = lab.run(host, "ls -la --time-style=full-iso /etc/sysctl.d; cat /etc/sysctl.d/* "
                    "/proc/sys/net/ipv4/tcp_keepalive_*", check=True).stdout  # fmt: skip
    return hashlib.sha256(state.encode()).hexdigest()


def pull_command(host, variables):
    extra = dict(variables, keepalive_report_dir="%s/%s" % (DROP, host),
                 keepalive_audit_gate=False)  # fmt: skip
    return (
        "export PATH=%s/bin:$PATH ANSIBLE_COLLECTIONS_PATH=%s ANSIBLE_NOCOLOR=1 "
        'ANSIBLE_HOST_KEY_CHECKING=false && ansible-pull -U %s -d %s -i "$(hostname)," '
        "-e '%s' playbooks/audit.yml" % (TOOLS, PULL_ROOT, SITE, CHECKOUT, json.dumps(extra))
    )


@pytest.fixture(scope="module")
def fleet(lab):
    lab.write_inventory({h.name: VARIABLES[i] for i, h in enumerate(lab.hosts)})
    return lab


def test_each_host_audits_itself_with_ansible_pull_and_the_drop_folder_merges(
    fleet, ansible_playbook, tmp_path
):
    lab = fleet
    tools, site = tools_bundle(), site_bundle(tmp_path)
    drop = tmp_path / "drop"
    for number, host in enumerate(lab.hosts):
        before = sysctl_hash(lab, host.name)
        copy_in(lab, host.name, TOOLS, tools)
        copy_in(lab, host.name, SITE, site)
        done = lab.run(host.name, pull_command(host.name, VARIABLES[number]), timeout=240)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        assert sysctl_hash(lab, host.name) == before, "the audit changed %s" % host.name
        report = lab.run(host.name, "cat %s/%s/report.json" % (DROP, host.name), check=True)
        (drop / host.name).mkdir(parents=True)
        (drop / host.name / "report.json").write_text(report.stdout)

    merged_dir, central_dir = tmp_path / "merged", tmp_path / "central"
    merge = ansible_playbook(
        [{"name": "Merge the drop folder", "hosts": "localhost", "gather_facts": False,
          "tasks": [{"name": "Merge", "netstack.keepalive.keepalive_report": {
              "merge": [str(drop)], "dest": str(merged_dir)}}]}],
        inventory="localhost,", extra_vars={"ansible_connection": "local"},
    )  # fmt: skip
    assert merge.rc == 0, str(merge)
    central = ansible_playbook(
        "playbooks/audit.yml",
        extra_vars={"keepalive_report_dir": str(central_dir), "keepalive_audit_gate": False},
    )
    assert central.rc == 0, str(central)
    merged = json.loads((merged_dir / "report.json").read_text())
    by_host = {h["host"]: h for h in json.loads((central_dir / "report.json").read_text())["hosts"]}
    assert (
        sorted(by_host) == [h["host"] for h in merged["hosts"]] == sorted(h.name for h in lab.hosts)
    )
    for host in merged["hosts"]:
        assert host["mode"] == "audit" and host["adoption"] is not None, host
        for key in SAME_KEYS:
            assert host[key] == by_host[host["host"]][key], (host["host"], key)
    assert merged["totals"]["hosts"] == LAB_HOSTS and merged["totals"]["unknown"] == 0
