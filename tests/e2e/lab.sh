#!/bin/bash
# End-to-end lab of checkpointctl-image: a Debian trixie tree (debootstrap) with
# podman 5.4, CRIU 4.1, runc, crun, conmon, skopeo and checkpointctl 1.3, in its
# own mount and network namespaces on a Debian 12 host. Real checkpoint and
# restore work there on kernels where the host's own CRIU (3.17) cannot.
#
# Adapted from the project's shared lab script (LAB.md) so that the repository
# is self-contained. Differences: project-specific defaults (tree, exchange dir,
# pidfile and holder name never collide with another lab on the same host), a
# smaller package set, a stamp that makes a re-run of `setup` skip apt, a
# private /dev/shm (podman's lock table /dev/shm/libpod_lock would otherwise be
# shared with the host's podman and any other lab), and no demo commands
# (tests/e2e/run.sh is the demo).
#
# Requirements: root; a Debian 12 (bookworm) host; network access to Debian's
# package mirror ($LAB_MIRROR) -- the lab reaches nothing else. On x86 with
# kernel >= 6.13 only CRIU >= 4.1 can checkpoint, hence trixie.
#
# Usage (as root, from the project root):
#   bash tests/e2e/lab.sh setup        # debootstrap + namespace + packages + config + test image
#   bash tests/e2e/lab.sh mount        # start the lab namespace only (e.g. after a reboot)
#   bash tests/e2e/lab.sh umount       # stop lab containers and end the lab namespace
#   bash tests/e2e/lab.sh enter        # interactive shell inside the lab
#   bash tests/e2e/lab.sh run CMD...   # one command inside the lab, e.g. run podman ps -a
#   bash tests/e2e/lab.sh destroy      # umount + delete the tree
#   source tests/e2e/lab.sh            # only define the functions (lab_run, ...)
#
# The host gets only `debootstrap`; its podman, its store and its network are
# never touched: the lab has its own mount+network namespace and its own store
# ($LAB_ROOT/var/lib/containers/storage). Host dir $LAB_XFER is /xfer in the lab.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
fi

LAB_ROOT=${LAB_ROOT:-/srv/ckptimg-lab}
LAB_XFER=${LAB_XFER:-/srv/ckptimg-xfer}
LAB_PIDFILE=${LAB_PIDFILE:-/run/ckptimg-lab.pid}
LAB_HOLDER=${LAB_HOLDER:-ckptimg-lab-holder}
LAB_MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
LAB_SUITE=${LAB_SUITE:-trixie}
# Packages installed inside the lab.
LAB_PKGS=${LAB_PKGS:-"podman criu runc crun skopeo conmon catatonit netavark aardvark-dns \
 iptables nftables busybox-static zstd gzip tar jq procps iproute2 uidmap \
 containers-storage golang-github-containers-common libcriu2 checkpointctl"}
LAB_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

lab_log() { echo "[lab $(date +%T)] $*" >&2; }

# --- the lab's own mount namespace -----------------------------------------
# A plain chroot is not enough for CRIU: inside a chroot /proc/self/mountinfo
# lacks the namespace's real root mount ("mnt: No parent found for mountpoint").
# So the lab gets its own mount namespace whose root IS the trixie tree
# (pivot_root), held open by a "$LAB_HOLDER" sleep process. Everything
# (podman, conmon, runc, criu) runs in that namespace via nsenter.
lab_ns_pid() {
  local p
  p=$(cat "$LAB_PIDFILE" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$p/cmdline" | grep -q "^$LAB_HOLDER" || return 1
  echo "$p"
}

lab_mount() {
  lab_ns_pid >/dev/null && return 0
  [ -x "$LAB_ROOT/bin/sleep" ] || { lab_log "no tree at $LAB_ROOT (run: setup)"; return 1; }
  mkdir -p "$LAB_XFER" "$LAB_ROOT/xfer" "$LAB_ROOT/.oldroot"
  cp -L /etc/resolv.conf "$LAB_ROOT/etc/resolv.conf" 2>/dev/null || true
  # --net: the lab has its own network namespace, so netavark's podman0
  # bridge (10.88.0.0/16) and its firewall rules never touch the host.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid unshare --mount --net --propagation private -- /bin/bash -c '
    set -e
    R=$1; X=$2; H=$3
    ip link set lo up 2>/dev/null || true
    mount --bind "$R" "$R"                  # the new root must be a mount point
    mount -t proc proc "$R/proc"
    mount --rbind /sys "$R/sys"             # brings the cgroup mounts
    mount --rbind /dev "$R/dev"             # brings /dev/pts
    # a private /dev/shm: podman keeps its lock table in /dev/shm/libpod_lock,
    # which must not be shared with the host'"'"'s podman or another lab
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
    mount -t tmpfs -o mode=755 tmpfs "$R/run"
    mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
    mount --bind "$X" "$R/xfer"
    cd "$R"
    pivot_root . .oldroot
    cd /
    umount -l /.oldroot
    mkdir -p /run/lock
    # crun refuses cgroup v1/v2 hybrid mode when the v2 hierarchy has any
    # controller ("cgroups in hybrid mode not supported"). Hide them from the
    # lab only (a bind mount in this private mount namespace).
    if grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
      : > /run/empty-cgroup.controllers
      mount --bind /run/empty-cgroup.controllers /sys/fs/cgroup/unified/cgroup.controllers
    fi
    exec -a "$H" /bin/sleep infinity
  ' lab-ns "$LAB_ROOT" "$LAB_XFER" "$LAB_HOLDER" </dev/null >"${LAB_PIDFILE%.pid}-ns.log" 2>&1 &
  echo $! > "$LAB_PIDFILE"
  local i
  for i in $(seq 50); do
    if lab_ns_pid >/dev/null; then return 0; fi
    sleep 0.1
  done
  lab_log "lab namespace did not come up (try $i):"; cat "${LAB_PIDFILE%.pid}-ns.log" >&2; return 1
}

lab_umount() {
  # Stops the lab's containers and ends the lab namespace.
  local p
  p=$(lab_ns_pid) || return 0
  lab_run sh -c 'podman ps -q | xargs -r podman stop -t 2' >/dev/null 2>&1 || true
  kill "$p" || true
  rm -f "$LAB_PIDFILE"
}

lab_run() {
  lab_mount || return 1
  nsenter -t "$(lab_ns_pid)" -m -n -r -w -- /usr/bin/env -i \
    HOME=/root TERM="${TERM:-xterm}" LANG=C.UTF-8 PODMAN_IGNORE_CGROUPSV1_WARNING=1 \
    PATH="$LAB_PATH" "$@"
}

lab_enter() { lab_run /bin/bash -l; }

# Same as lab_run but in the HOST network namespace (for apt-get inside the lab).
lab_run_hostnet() {
  lab_mount || return 1
  nsenter -t "$(lab_ns_pid)" -m -r -w -- /usr/bin/env -i \
    HOME=/root TERM="${TERM:-xterm}" LANG=C.UTF-8 PATH="$LAB_PATH" "$@"
}

lab_bootstrap() {
  if [ ! -x "$LAB_ROOT/usr/bin/apt-get" ]; then
    if ! command -v debootstrap >/dev/null; then
      lab_log "installing debootstrap on the host"
      apt-get update
      # bookworm's own debootstrap knows trixie (scripts/trixie -> sid)
      DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap
    fi
    lab_log "debootstrap $LAB_SUITE -> $LAB_ROOT (~40 s)"
    rm -rf --one-file-system "$LAB_ROOT"
    debootstrap --variant=minbase --include=ca-certificates "$LAB_SUITE" "$LAB_ROOT" "$LAB_MIRROR"
  fi
  # never start services inside the tree
  printf '#!/bin/sh\nexit 101\n' > "$LAB_ROOT/usr/sbin/policy-rc.d"
  chmod +x "$LAB_ROOT/usr/sbin/policy-rc.d"
}

lab_stamp() { printf '%s\n' "$LAB_SUITE $LAB_PKGS" | tr -s ' '; }

lab_install_pkgs() {
  lab_mount
  local stamp="$LAB_ROOT/etc/ckptimg-lab.stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(lab_stamp)" ]; then
    return 0
  fi
  lab_log "installing packages in the lab"
  # shellcheck disable=SC2086 # word splitting of the package list is wanted
  lab_run_hostnet /bin/sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends $LAB_PKGS"
  lab_stamp > "$stamp"
}

lab_configure() {
  # No systemd in the lab -> cgroupfs + file events. Podman's default ulimits
  # (nofile/nproc 1048576) fail without CAP_SYS_RESOURCE -> modest defaults.
  mkdir -p "$LAB_ROOT/etc/containers"
  cat > "$LAB_ROOT/etc/containers/containers.conf" <<'CONF'
# written by tests/e2e/lab.sh
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
}

lab_image() {
  # localhost/busybox:lab -- a busybox-static rootfs imported as an image
  # shellcheck disable=SC2016 # expanded inside the lab
  lab_run sh -c '
    podman image exists localhost/busybox:lab && exit 0
    set -e
    d=$(mktemp -d); mkdir -p "$d/bin" "$d/tmp" "$d/etc"
    cp /bin/busybox "$d/bin/busybox"
    for a in $(/bin/busybox --list); do [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"; done
    echo "root:x:0:0:root:/root:/bin/sh" > "$d/etc/passwd"
    echo "root:x:0:" > "$d/etc/group"
    tar -C "$d" -cf /tmp/bbroot.tar .
    podman import -q --change "CMD=/bin/sh" --change "ENV=PATH=/bin" /tmp/bbroot.tar localhost/busybox:lab
    rm -rf "$d" /tmp/bbroot.tar'
}

lab_setup() {
  lab_bootstrap && lab_mount && lab_install_pkgs && lab_configure && lab_image
}

lab_destroy() {
  lab_umount
  sleep 1
  # refuse if anything is still mounted below the tree (should not happen:
  # all lab mounts live in the lab's private mount namespace)
  if findmnt -rno TARGET | grep -q "^$LAB_ROOT/"; then lab_log "mounts left under $LAB_ROOT"; return 1; fi
  rm -rf --one-file-system "$LAB_ROOT"
}

lab_usage() {
  cat <<USAGE
usage: $0 setup|mount|umount|enter|run CMD...|destroy

End-to-end lab of checkpointctl-image: Debian $LAB_SUITE tree ($LAB_ROOT) with
podman, CRIU, runc, crun and checkpointctl, in its own mount and network
namespaces. Host dir $LAB_XFER is /xfer inside the lab.
USAGE
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    setup)   lab_setup ;;
    mount)   lab_mount ;;
    umount)  lab_umount ;;
    enter)   lab_enter ;;
    run)     shift; lab_run "$@" ;;
    destroy) lab_destroy ;;
    -h|--help|help) lab_usage ;;
    *)       lab_usage >&2; exit 2 ;;
  esac
fi
