#!/bin/sh
# PID 1 of one lab host (see tests/lab/README.md).
#
# Started by lab.py as:
#   nsenter --net=/run/netns/NS -- unshare --mount --uts --ipc --pid --fork \
#       --kill-child=SIGKILL --propagation private -- sh host-init.sh NAME ADDRESS DISK PUBKEY
# so it already runs in the host's own network, mount, UTS, IPC and PID namespaces.
# DISK holds upper/ and work/ of the overlay root; upper/ is the host's private disk and
# survives reboots. The last step execs sshd, which stays PID 1 of the host.
set -eu
# Whatever umask the run was started with, the host's files must be readable as on a real host
# (sshd, services running as their own users, unprivileged checks).
umask 022

NAME=$1
ADDRESS=$2
DISK=$3
PUBKEY=$4
ROOT=$DISK/merged
AUTHORIZED_KEY=$(cat "$PUBKEY")  # read now: the controller's paths are gone after pivot_root

log() { echo "lab-init[$NAME]: $*"; }

hostname "$NAME"

# Overlay root: the real / read-only below, the host's disk above. A just-killed incarnation of
# this host may still hold the upper dir for a moment ("in use"), so retry briefly.
mkdir -p "$DISK/upper" "$DISK/work" "$ROOT"
tries=0
until mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$DISK/upper,workdir=$DISK/work" "$ROOT"; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || { log "cannot mount the overlay root"; exit 1; }
    sleep 0.1
done

# /dev from the machine (before the old root goes away), everything else fresh.
mount --rbind /dev "$ROOT/dev"
# pivot_root(".", ".") stacks the old root on top of the new one; umount(8) needs a /proc of
# the new root to find it, then the lazy unmount detaches the whole machine's tree.
cd "$ROOT"
pivot_root . .
mount -t proc proc /proc
umount -l /
cd /

# kernel.*, vm.*, fs.* are not namespaced: they belong to the real machine. Only net.* (which
# is per network namespace) stays writable.
mount --bind /proc/sys /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,ro /proc/sys
mount -t sysfs -o ro sysfs /sys
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p /run/sshd /run/sysctl.d

# First boot: the things a freshly installed machine would have of its own.
if [ ! -e /etc/netstack-lab-host ]; then
    rm -f /.dockerenv
    rm -f /etc/ssh/ssh_host_*
    ssh-keygen -q -t ed25519 -N '' -C "root@$NAME" -f /etc/ssh/ssh_host_ed25519_key
    # root's dotfiles of a fresh Debian, not the machine's (its .bashrc runs pyenv hooks that
    # cost 0.2 s per ssh session).
    for dotfile in bashrc profile; do
        cp "/usr/share/base-files/dot.$dotfile" "/root/.$dotfile" 2>/dev/null ||
            cp "/etc/skel/.$dotfile" "/root/.$dotfile"
    done
    mkdir -p /root/.ssh
    chmod 0700 /root/.ssh
    echo "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
    echo "$NAME" > /etc/hostname
    printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$ADDRESS" "$NAME" > /etc/hosts
    cat > /etc/ssh/sshd_config.d/00-netstack-lab.conf <<CONF
# Written by the netstack.keepalive test lab at first boot.
ListenAddress $ADDRESS
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
CONF
    echo "$NAME" > /etc/netstack-lab-host
fi

# Every boot: a lab host has no systemd, so procps' `sysctl --system` is its boot program (the
# boot model follows procps on hosts without /run/systemd/system; systemd-sysctl's own rules
# are proven on the VMs of molecule/vm). Vendor files that set non-net keys would only fail on
# the read-only /proc/sys, so mask them (same name in /run/sysctl.d wins over /usr/lib and
# /lib, while /etc/sysctl.d still wins over /run). Files in /etc/sysctl.d are never masked.
for file in /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf; do
    [ -f "$file" ] || continue
    if awk -F= '
        /^[[:space:]]*([#;]|$)/ { next }
        { key = $1; gsub(/[[:space:]]/, "", key); sub(/^-/, "", key)
          if (key !~ /^net[.\/]/) found = 1 }
        END { exit found ? 0 : 1 }' "$file"; then
        ln -sf /dev/null "/run/sysctl.d/${file##*/}"
    fi
done
sysctl --system > /run/netstack-lab-sysctl.log 2>&1 || log "sysctl --system failed, see /run/netstack-lab-sysctl.log"

log "booted, sshd on $ADDRESS"
exec /usr/sbin/sshd -D -e
