#!/usr/bin/env bash
# Build (or reuse) a Debian test image for the molecule "vm" scenario.
#
# usage: build-image.sh RELEASE [CACHE_DIR]   RELEASE: bullseye, bookworm or trixie
#                                             (default CACHE_DIR: <repo>/.cache/vm)
# prints: the image folder (base.raw, vmlinuz, initrd.img, id_ed25519) on stdout.
#
# One recipe for every release. An image is keyed by the release and a hash of this script
# (CACHE_DIR/RELEASE/image-HASH), so editing the recipe rebuilds every release and nothing
# else does. Builds of one release are serialised with flock(1) on its folder itself (the
# kernel drops the lock when the holder dies, so no lock file can be left behind); builds of
# different releases run in parallel. Everything is built in a temporary folder and renamed
# into place only when complete.
set -euo pipefail
# Files written into the image must be readable by the guest's own service users
# (systemd-networkd reads its .network file as systemd-network), whatever the caller's umask.
umask 022

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
RELEASE=${1:?usage: build-image.sh RELEASE [CACHE_DIR]}
case "$RELEASE" in
bullseye | bookworm | trixie) ;;
*) echo "build-image: unknown release $RELEASE (bullseye, bookworm or trixie)" >&2 && exit 2 ;;
esac
CACHE=${2:-$REPO/.cache/vm}/$RELEASE
MIRROR=${NETSTACK_VM_MIRROR:-http://deb.debian.org/debian}
RECIPE_HASH=$(sha256sum "$HERE/build-image.sh" | cut -c1-16)
IMAGE="$CACHE/image-$RECIPE_HASH"
# The release's own sshd, redis, procps, python3 and kernel: what the adoption audit and the
# boot model are checked against.
PACKAGES=systemd-sysv,udev,dbus,openssh-server,python3,linux-image-amd64,iproute2,procps,kmod
PACKAGES=$PACKAGES,redis-server

log() { echo "build-image: $*" >&2; }

mkdir -p "$CACHE"
exec 9<"$CACHE"
if ! flock --nonblock 9; then
    log "another build holds $CACHE, waiting"
    flock --timeout 900 9
fi

if [ -f "$IMAGE/complete" ]; then
    echo "$IMAGE"
    exit 0
fi

remove_build_dir() {
    # debootstrap may leave proc/sys mounted inside the rootfs when it fails half way.
    for mnt in proc sys dev/pts dev; do
        umount -l "$1/rootfs/$mnt" 2>/dev/null || true
    done
    # Never follow a mount that survived into the machine's own /dev or /proc.
    rm -rf --one-file-system "$1"
}
# We hold the lock, so any other build folder belongs to a build that was killed.
for stale in "$CACHE"/.build.*; do
    [ -e "$stale" ] && remove_build_dir "$stale"
done

WORK=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'remove_build_dir "$WORK"' EXIT

started=$(date +%s)
log "debootstrap $RELEASE from $MIRROR (recipe $RECIPE_HASH)"
# INITRD=No: the kernel's postinst skips its initrd (every driver Debian ships); we build a
# small one below, once.
INITRD=No debootstrap --variant=minbase --include="$PACKAGES" "$RELEASE" "$WORK/rootfs" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2
    exit 1
}
ROOTFS=$WORK/rootfs

# Root logs in with a key made for this image only; no passwords anywhere.
ssh-keygen -q -t ed25519 -N '' -C netstack-molecule-vm -f "$WORK/id_ed25519"
install -d -m 0700 "$ROOTFS/root/.ssh"
install -m 0600 "$WORK/id_ed25519.pub" "$ROOTFS/root/.ssh/authorized_keys"
cat >"$ROOTFS/etc/ssh/sshd_config.d/netstack-test.conf" <<'EOF'
PasswordAuthentication no
UseDNS no
EOF

cat >"$ROOTFS/etc/fstab" <<'EOF'
/dev/vda / ext4 rw,errors=remount-ro 0 1
EOF
echo "netstack-$RELEASE" >"$ROOTFS/etc/hostname"

# qemu user networking hands out an address by DHCP on eth0 (net.ifnames=0 on the cmdline).
cat >"$ROOTFS/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0

[Network]
DHCP=ipv4
EOF
if ! [ -e "$ROOTFS/lib/systemd/system/systemd-networkd.service" ] &&
    ! [ -e "$ROOTFS/usr/lib/systemd/system/systemd-networkd.service" ]; then
    # Newer releases ship networkd as a package of its own.
    chroot "$ROOTFS" apt-get install -y --no-install-recommends systemd-networkd \
        >"$WORK/networkd.log" 2>&1 || { tail -n 20 "$WORK/networkd.log" >&2 && exit 1; }
fi
chroot "$ROOTFS" systemctl enable systemd-networkd.service >&2

# The adoption audit's real services: the release's own redis with the keepalive the audit
# must read back (Debian's redis.conf ships 300), on loopback only.
sed -i 's/^tcp-keepalive .*/tcp-keepalive 60/' "$ROOTFS/etc/redis/redis.conf"
grep -qx 'tcp-keepalive 60' "$ROOTFS/etc/redis/redis.conf"

# A machine-id in the image: with an empty one every VM's first boot is a systemd "first
# boot" (unit presets, systemd-firstboot asking on the console). The VMs never share a
# network, so sharing the id is harmless. Apt timers would only compete for the CPU.
chroot "$ROOTFS" systemd-machine-id-setup >&2
for unit in systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
    ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done

# Test image only: systemd-sysctl logs every key it sets at debug level. The verifier reads
# that from the journal to prove that systemd-sysctl itself applied our file at boot.
install -d "$ROOTFS/etc/systemd/system/systemd-sysctl.service.d"
cat >"$ROOTFS/etc/systemd/system/systemd-sysctl.service.d/netstack-test-debug.conf" <<'EOF'
[Service]
Environment=SYSTEMD_LOG_LEVEL=debug
EOF

# Booting under software emulation is slow, so the guest does as little as it can: an initrd
# with just the virtio disk and ext4 (not every driver Debian ships: ~9 s less to unpack), and
# no autoloaded drivers for hardware a test VM never has.
echo MODULES=list >"$ROOTFS/etc/initramfs-tools/conf.d/netstack-test.conf"
printf '%s\n' virtio_pci virtio_blk ext4 >>"$ROOTFS/etc/initramfs-tools/modules"
printf 'blacklist %s\n' floppy pcspkr cfg80211 kvm kvm_amd kvm_intel joydev psmouse \
    >"$ROOTFS/etc/modprobe.d/netstack-test.conf"
kernels=("$ROOTFS"/boot/vmlinuz-*)
KERNEL_VERSION=${kernels[-1]##*/vmlinuz-}
chroot "$ROOTFS" update-initramfs -c -k "$KERNEL_VERSION" >&2

cp "$ROOTFS/boot/vmlinuz-$KERNEL_VERSION" "$WORK/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KERNEL_VERSION" "$WORK/initrd.img"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

mkfs.ext4 -q -L netstack-root -d "$ROOTFS" "$WORK/base.raw" 2G >&2
rm -rf "$ROOTFS" "$WORK/debootstrap.log" "$WORK/networkd.log"
date -u +%FT%TZ >"$WORK/complete"

# Publish atomically, then drop images built from older recipes.
for old in "$CACHE"/image-*; do
    [ -e "$old" ] && [ "$old" != "$IMAGE" ] && rm -rf "$old"
done
rm -rf "$IMAGE"
mv "$WORK" "$IMAGE"
trap - EXIT
log "image ready in $(($(date +%s) - started)) s: $IMAGE"
echo "$IMAGE"
