"""Real Debian daemons on 127.0.0.1 high ports, each with private config and data.

Every ``start_*`` function writes the daemon's configuration under ``workdir``, starts it in
the foreground inside ``cgroup`` (its stand-in unit), waits for its port and returns a
``Service`` whose ``expected`` table says, per TCP state (the audit's names: "listen",
"established"), what the configuration implies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ._cgroup import UnitCgroup
from ._launch import NETNS_ADDRESS, Daemon, ServiceError, as_user
from ._model import OFF, Keepalive, Service, Sysctls

SSHD = "/usr/sbin/sshd"
REDIS = "/usr/bin/redis-server"
NGINX = "/usr/sbin/nginx"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TCP_HOLDER = Path(__file__).with_name("tcp_holder.py")


def _need(binary: Path | str, package: str) -> None:
    if not Path(binary).exists():
        raise ServiceError(f"{binary} is missing: apt-get install -y {package}")


def _comm(daemon: Daemon) -> str:
    with open(f"/proc/{daemon.proc.pid}/comm", encoding="utf-8") as comm:
        return comm.read().strip()


def _run(argv: list[str], **kwargs) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


# --- sshd -------------------------------------------------------------------------------


def make_ssh_keys(workdir: Path) -> tuple[Path, Path]:
    """A host key for the sshds and a client key that root accepts (through our own file)."""
    host_key, client_key = workdir / "ssh_host_ed25519_key", workdir / "client_ed25519_key"
    for key in (host_key, client_key):
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "audit-test", "-f", str(key)])
    (workdir / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    return host_key, client_key


def start_sshd(
    workdir: Path, cgroup: UnitCgroup, port: int, tcp_keepalive: bool, root_ns: Sysctls
) -> Service:
    _need(SSHD, "openssh-server")
    # sshd insists on its privilege-separation directory; Debian's unit creates it at boot.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    config = workdir / f"{cgroup.unit}.sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {workdir / 'ssh_host_ed25519_key'}",
                f"PidFile {workdir / cgroup.unit}.pid",
                f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                f"TCPKeepAlive {'yes' if tcp_keepalive else 'no'}",
                "ClientAliveInterval 0",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    daemon = Daemon(cgroup, [SSHD, "-D", "-e", "-f", str(config)], workdir / f"{cgroup.unit}.log")
    daemon.start()
    daemon.wait_listening(port)
    # sshd sets only SO_KEEPALIVE on accepted connections (no TCP_KEEP* of its own).
    established = root_ns.defaults("sshd_config: TCPKeepAlive yes") if tcp_keepalive else OFF
    return Service(
        cgroup.unit,
        port,
        daemon,
        {"listen": OFF, "established": established},
        comm=_comm(daemon),
    )


def ssh_session(workdir: Path, cgroup: UnitCgroup, port: int, timeout: float = 15.0) -> Daemon:
    """A real ``ssh -N`` login with the client key, held open; returns once authenticated."""
    marker = workdir / f"ssh-{port}.connected"
    client = Daemon(
        cgroup,
        [
            "ssh",
            "-F",
            "/dev/null",
            "-N",
            "-p",
            str(port),
            "-i",
            str(workdir / "client_ed25519_key"),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            # LocalCommand runs only after a successful login: the marker proves the session.
            "-o",
            "PermitLocalCommand=yes",
            "-o",
            f"LocalCommand=touch {marker}",
            "root@127.0.0.1",
        ],
        workdir / f"ssh-client-{port}.log",
    )
    client.start()
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if client.proc.poll() is not None or time.monotonic() > deadline:
            client.proc.kill()
            raise ServiceError(f"ssh to port {port} did not log in\n" + client.log_tail())
        time.sleep(0.05)
    return client


# --- redis ------------------------------------------------------------------------------


def redis_keepalive(seconds: int) -> Keepalive:
    """What redis's anetKeepAlive() sets for ``tcp-keepalive N`` (N > 0) on client sockets.

    redis 7 (src/anet.c): SO_KEEPALIVE, TCP_KEEPIDLE = N, TCP_KEEPINTVL = max(N / 3, 1),
    TCP_KEEPCNT = 3. ``tcp-keepalive 0`` sets nothing at all.
    """
    if seconds == 0:
        return OFF
    return Keepalive(True, seconds, max(seconds // 3, 1), 3, True, f"tcp-keepalive {seconds}")


# In our own namespace a server listens on NETNS_ADDRESS, so its clients there are not
# loopback connections (the path checks judge only connections that can cross a middlebox).
BIND_ADDRESSES = {False: ("127.0.0.1",), True: (NETNS_ADDRESS,)}


def _endpoints(port: int, netns: str | None) -> list[str]:
    return ["%s:%d" % (BIND_ADDRESSES[netns is not None][0], port)]


def start_redis(
    workdir: Path, cgroup: UnitCgroup, port: int, tcp_keepalive: int, netns: str | None = None
) -> Service:
    _need(REDIS, "redis-server")
    data = workdir / cgroup.unit
    data.mkdir()
    argv = [
        REDIS,
        "--port",
        str(port),
        "--bind",
        *BIND_ADDRESSES[netns is not None],
        "--tcp-keepalive",
        str(tcp_keepalive),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--supervised",
        "no",
        "--protected-mode",
        "no",
        "--logfile",
        "",
    ]
    daemon = Daemon(cgroup, argv, workdir / f"{cgroup.unit}.log")
    daemon.start(netns=netns)
    if netns:
        _wait_listening_in_netns(daemon, netns, port)
    else:
        daemon.wait_listening(port)
    # The listener gets nothing; every accepted client gets anetKeepAlive().
    expected = {"listen": OFF, "established": redis_keepalive(tcp_keepalive)}
    return Service(
        cgroup.unit,
        port,
        daemon,
        expected,
        netns=netns,
        comm=_comm(daemon),
        listen=_endpoints(port, netns),
    )


# --- PostgreSQL -------------------------------------------------------------------------

PG_KEEPALIVES = {
    "tcp_keepalives_idle": 45,
    "tcp_keepalives_interval": 15,
    "tcp_keepalives_count": 4,
}


def start_postgres(workdir: Path, cgroup: UnitCgroup, port: int) -> Service:
    _need(PG_BIN / "postgres", "postgresql")
    data = workdir / "pgdata"
    data.mkdir(mode=0o700)
    os.chown(data, *_uid_gid("postgres"))
    _run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--no-instructions",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        preexec_fn=as_user("postgres"),
        cwd="/",
    )
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": port,
        "unix_socket_directories": "",
        "fsync": "off",
        "shared_buffers": "16MB",
        "max_connections": 10,
        **PG_KEEPALIVES,
    }
    argv = [str(PG_BIN / "postgres"), "-D", str(data)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    daemon = Daemon(cgroup, argv, workdir / f"{cgroup.unit}.log", cwd="/")
    daemon.start(user="postgres")
    daemon.wait_listening(port, timeout=30)
    # PostgreSQL sets SO_KEEPALIVE on every TCP client connection and applies the three
    # tcp_keepalives_* settings when they are non-zero; the listener is left alone.
    established = Keepalive(
        True, *PG_KEEPALIVES.values(), True, "tcp_keepalives_idle/interval/count=45/15/4"
    )
    return Service(
        cgroup.unit,
        port,
        daemon,
        {"listen": OFF, "established": established},
        comm=_comm(daemon),
    )


def _uid_gid(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


# --- nginx ------------------------------------------------------------------------------

NGINX_SO_KEEPALIVE = (30, 10, 3)


def start_nginx(
    workdir: Path, cgroup: UnitCgroup, port: int, so_keepalive: bool, ipv6: bool = False
) -> Service:
    """nginx with one server on 127.0.0.1:port (and [::1]:port with ``ipv6``)."""
    _need(NGINX, "nginx")
    prefix = workdir / cgroup.unit
    (prefix / "temp").mkdir(parents=True)
    endpoints = [f"127.0.0.1:{port}"] + ([f"[::1]:{port}"] if ipv6 else [])
    option = " so_keepalive=%d:%d:%d" % NGINX_SO_KEEPALIVE if so_keepalive else ""
    listen = "\n".join(f"    listen {endpoint}{option};" for endpoint in endpoints)
    temps = "\n".join(
        f"  {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
{temps}
  keepalive_timeout 600s;
  client_header_timeout 600s;
  server {{
{listen}
    location / {{ return 200 "audit-ok\\n"; }}
  }}
}}
"""
    )
    argv = [
        NGINX,
        "-p",
        str(prefix),
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(prefix / "error.log"),
    ]
    daemon = Daemon(cgroup, argv, workdir / f"{cgroup.unit}.log")
    daemon.start()
    daemon.wait_listening(port)
    if so_keepalive:
        # nginx sets the options on the listener; accepted sockets inherit them in Linux.
        on = Keepalive(True, *NGINX_SO_KEEPALIVE, True, "listen ... so_keepalive=30:10:3")
        expected = {"listen": on, "established": on}
    else:
        expected = {"listen": OFF, "established": OFF}
    return Service(cgroup.unit, port, daemon, expected, comm=_comm(daemon), listen=endpoints)


# --- plain Python servers ---------------------------------------------------------------


def start_tcp_holder(
    workdir: Path,
    cgroup: UnitCgroup,
    port: int,
    keepalive: bool,
    netns: str | None = None,
    ns_sysctls: Sysctls | None = None,
) -> Service:
    argv = [sys.executable, str(TCP_HOLDER), str(port)] + (["--keepalive"] if keepalive else [])
    argv += ["--address", NETNS_ADDRESS] if netns else []
    daemon = Daemon(cgroup, argv, workdir / f"{cgroup.unit}.log")
    daemon.start(netns=netns)
    if netns:
        _wait_listening_in_netns(daemon, netns, port)
    else:
        daemon.wait_listening(port)
    if keepalive:
        on = ns_sysctls.defaults("SO_KEEPALIVE on the listener, namespace sysctls")
        expected = {"listen": on, "established": on}
    else:
        expected = {"listen": OFF, "established": OFF}
    return Service(
        cgroup.unit,
        port,
        daemon,
        expected,
        netns=netns,
        comm=_comm(daemon),
        listen=_endpoints(port, netns),
    )


def _wait_listening_in_netns(daemon: Daemon, netns: str, port: int, timeout: float = 10) -> None:
    # The port is only reachable inside the namespace: look at its socket table from there.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["ip", "netns", "exec", netns, "ss", "-Htln", f"sport = :{port}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.stdout.strip() and _comm_is_final(daemon):
            return
        if daemon.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise ServiceError(
        f"{daemon.cgroup.unit}: nothing listens on {port} in {netns}\n" + daemon.log_tail()
    )


def _comm_is_final(daemon: Daemon) -> bool:
    # Until exec completes the child is still "ip"; the listener proves it is python by now.
    return _comm(daemon) != "ip"
