"""Start and stop the qemu VMs of the molecule "vm" scenario (see molecule/README.md).

usage:
  vmctl.py up --state-dir D [--image DIR] NAME[=DIR]...
                                                  boot one VM per NAME (from image DIR, else
                                                  --image), wait for ssh, print JSON
  vmctl.py down --state-dir D                     kill every VM started from D, remove overlays
  vmctl.py accel --image DIR                      print the accelerator `up` would use

Each VM gets a qcow2 overlay on the shared base.raw, its own ssh port forwarded on 127.0.0.1
and a pid file; `down` kills exactly the qemu processes recorded there (after checking that
the pid still belongs to that VM) and deletes the folder. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# Three VMs boot at once under software emulation on a shared machine.
SSH_WAIT_SECONDS = 600
KVM_PROBE_SECONDS = 15
QEMU = "qemu-system-x86_64"


def log(message: str) -> None:
    print(f"vmctl: {message}", file=sys.stderr, flush=True)


# --- accelerator -------------------------------------------------------------------------


def choose_accel(image: Path) -> str:
    """Return "kvm" when KVM really boots this image's kernel here, else "tcg".

    /dev/kvm can exist and still not run a stock guest (no vmx/svm: qemu aborts or the guest
    hangs), so we boot the kernel once with KVM and no root disk: a working KVM reaches the
    "Unable to mount root fs" panic within a second or two. The answer is cached per qemu
    version, host kernel and image, because the failing probe costs KVM_PROBE_SECONDS.
    """
    forced = os.environ.get("NETSTACK_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    qemu_version = subprocess.run(
        [QEMU, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    key = hashlib.sha256(f"{qemu_version}|{platform.release()}".encode()).hexdigest()[:16]
    cached = image / f"accel-{key}"
    if cached.exists():
        return cached.read_text().split()[0]
    accel, reason = probe_kvm(image / "vmlinuz")
    log(f"accelerator {accel}: {reason}")
    tmp = cached.with_suffix(f".{os.getpid()}")
    tmp.write_text(f"{accel}\n{reason}\n")
    os.replace(tmp, cached)
    return accel


def probe_kvm(kernel: Path) -> tuple[str, str]:
    cmd = [QEMU, "-accel", "kvm", "-m", "256", "-nodefaults", "-display", "none"]
    cmd += ["-no-reboot", "-serial", "stdio", "-kernel", str(kernel)]
    cmd += ["-append", "console=ttyS0 panic=-1"]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=KVM_PROBE_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return "tcg", f"a KVM guest did not reach its first panic in {KVM_PROBE_SECONDS} s"
    if "Kernel panic" in out.stdout:
        return "kvm", "a KVM guest booted its kernel"
    return "tcg", f"KVM guest failed: {(out.stderr or out.stdout).strip()[-200:]}"


# --- one VM ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def qemu_command(vm_dir: Path, image: Path, name: str, port: int, accel: str) -> list[str]:
    accel_opt = "kvm" if accel == "kvm" else "tcg,tb-size=256"
    # mitigations=off: speculative-execution defences only slow an emulated CPU down.
    append = f"root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname={name} mitigations=off"
    # One vCPU: with TCG on a busy 2-core machine, a second vCPU mostly waits for the first.
    # -nodefaults: no floppy, CD-ROM, parallel port or VGA for the guest to probe at boot.
    return [
        QEMU, "-name", f"netstack-molecule-{name}", "-accel", accel_opt, "-nodefaults",
        "-m", "1024", "-smp", str(os.environ.get("NETSTACK_VM_SMP", "1")),
        "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"),
        "-append", append,
        "-drive", f"file={vm_dir / 'overlay.qcow2'},if=virtio,format=qcow2",
        "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-display", "none", "-serial", f"file:{vm_dir / 'serial.log'}",
        "-pidfile", str(vm_dir / "qemu.pid"), "-daemonize",
    ]  # fmt: skip


def start_vm(state_dir: Path, image: Path, name: str, accel: str) -> dict:
    vm_dir = state_dir / name
    vm_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw"]
        + ["-b", str(image / "base.raw"), str(vm_dir / "overlay.qcow2")],
        check=True,
    )
    # The port is free when we look; another process may take it before qemu binds it.
    for _attempt in range(3):
        port = free_port()
        run = subprocess.run(
            qemu_command(vm_dir, image, name, port, accel),
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode == 0:
            (vm_dir / "port").write_text(f"{port}\n")
            log(f"{name}: qemu pid {read_pid(vm_dir)}, ssh on 127.0.0.1:{port} ({accel})")
            return {"instance": name, "port": port}
        log(f"{name}: qemu failed on port {port}: {run.stderr.strip()}")
    raise RuntimeError(f"{name}: qemu did not start")


def ssh_command(port: int, key: Path, *remote: str) -> list[str]:
    return [
        "ssh", "-p", str(port), "-i", str(key), "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "root@127.0.0.1", *remote,
    ]  # fmt: skip


def wait_for_ssh(vms: list[dict], images: dict[str, Path], state_dir: Path) -> None:
    """Loop a real `ssh true`: slirp accepts TCP long before sshd answers."""
    deadline = time.monotonic() + SSH_WAIT_SECONDS
    waiting = {vm["instance"]: vm for vm in vms}
    started = time.monotonic()
    while waiting:
        for name, vm in list(waiting.items()):
            if not pid_alive(read_pid(state_dir / name)):
                tail = serial_tail(state_dir, name)
                raise RuntimeError(f"{name}: qemu exited during boot\n{tail}")
            probe = subprocess.run(
                ssh_command(vm["port"], images[name] / "id_ed25519", "true"),
                capture_output=True,
                timeout=30,
                check=False,
            )
            if probe.returncode == 0:
                log(f"{name}: ssh answers after {time.monotonic() - started:.0f} s")
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            tails = "\n".join(serial_tail(state_dir, name) for name in waiting)
            raise RuntimeError(f"no ssh after {SSH_WAIT_SECONDS} s: {sorted(waiting)}\n{tails}")
        if waiting:
            time.sleep(2)


def serial_tail(state_dir: Path, name: str, lines: int = 15) -> str:
    path = state_dir / name / "serial.log"
    text = path.read_text(errors="replace") if path.exists() else "(no serial log)"
    return f"--- {name} serial console ---\n" + "\n".join(text.splitlines()[-lines:])


# --- processes ---------------------------------------------------------------------------


def read_pid(vm_dir: Path) -> int | None:
    try:
        return int((vm_dir / "qemu.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    """True while the process runs; a zombie counts as gone (kill -0 would say alive)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def is_our_qemu(pid: int, vm_dir: Path) -> bool:
    """The pid file may be stale and the pid reused: only kill the qemu using this overlay."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    overlay = str(vm_dir / "overlay.qcow2").encode()
    return bool(argv) and argv[0].endswith(QEMU.encode()) and any(overlay in a for a in argv)


def stop_vm(vm_dir: Path) -> None:
    pid = read_pid(vm_dir)
    if pid is not None and pid_alive(pid) and is_our_qemu(pid, vm_dir):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        log(f"{vm_dir.name}: qemu pid {pid} stopped")
    shutil.rmtree(vm_dir)


# --- commands ----------------------------------------------------------------------------


def images_by_name(args: argparse.Namespace) -> dict[str, Path]:
    """NAME=DIR boots NAME from image DIR; a bare NAME uses --image."""
    images = {}
    for spec in args.names:
        name, _sep, folder = spec.partition("=")
        folder = folder or args.image
        if not folder:
            raise SystemExit(f"vmctl: {name}: no image (give NAME=DIR or --image)")
        images[name] = Path(folder).resolve()
    return images


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    images = images_by_name(args)
    vms = []
    try:
        for name, image in images.items():
            vms.append(start_vm(state_dir, image, name, choose_accel(image)))
        wait_for_ssh(vms, images, state_dir)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        log(str(exc))
        cmd_down(args)
        return 1
    for vm in vms:
        key = images[vm["instance"]] / "id_ed25519"
        vm.update(address="127.0.0.1", user="root", identity_file=str(key))
    json.dump(vms, sys.stdout, indent=2)
    print()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    if state_dir.is_dir():
        for vm_dir in sorted(p for p in state_dir.iterdir() if p.is_dir()):
            stop_vm(vm_dir)
    return 0


def cmd_accel(args: argparse.Namespace) -> int:
    print(choose_accel(Path(args.image).resolve()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--state-dir", required=True)
    up.add_argument("--image")
    up.add_argument("names", nargs="+")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down")
    down.add_argument("--state-dir", required=True)
    down.set_defaults(func=cmd_down)
    accel = sub.add_parser("accel")
    accel.add_argument("--image", required=True)
    accel.set_defaults(func=cmd_accel)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
