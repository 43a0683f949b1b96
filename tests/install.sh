#!/bin/bash
# Install smoke test: `make install DESTDIR=<temp>` installs exactly the expected files with
# the expected modes, the installed binary runs, and `make uninstall` removes them all.
# `install` never builds, so `make build docs` must have run (with the same
# CARGO_TARGET_DIR and debug= settings).
#
# Usage: bash tests/install.sh [extra make variables, e.g. PREFIX=/usr LIBEXECDIR=/usr/lib]
set -euo pipefail

cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

prefix=/usr
libexecdir=$prefix/libexec
for kv in "$@"; do
    case $kv in
        PREFIX=*) prefix=${kv#PREFIX=}; libexecdir=$prefix/libexec ;;
    esac
done
for kv in "$@"; do
    case $kv in
        LIBEXECDIR=*) libexecdir=${kv#LIBEXECDIR=} ;;
    esac
done
mandir=$prefix/share/man

$MAKE --no-print-directory install DESTDIR="$dest" PREFIX="$prefix" "$@"

expected=$(
    cat <<LIST
$libexecdir/checkpointctl/checkpointctl-image 755
$mandir/man1/checkpointctl-image-build.1 644
$mandir/man1/checkpointctl-image-check.1 644
$mandir/man1/checkpointctl-image-inspect.1 644
$mandir/man1/checkpointctl-image-version.1 644
$mandir/man1/checkpointctl-image.1 644
LIST
)
actual=$(cd "$dest" && find . -type f -printf '/%P %m\n' | sort)
if [ "$actual" != "$(sort <<<"$expected")" ]; then
    echo "FAIL: installed file list differs" >&2
    diff -u <(sort <<<"$expected") <(echo "$actual") >&2 || true
    exit 1
fi
# DESTDIR must not leak into anything installed (PREFIX is never baked with it).
if grep -rqF "$dest" "$dest"; then
    echo "FAIL: DESTDIR path found inside installed files" >&2
    exit 1
fi

bin=$dest$libexecdir/checkpointctl/checkpointctl-image
"$bin" --version
rc=0
"$bin" --plugin-description >/dev/null || rc=$?
[ "$rc" = 42 ] || { echo "FAIL: --plugin-description exit $rc, want 42" >&2; exit 1; }
man -l "$dest$mandir/man1/checkpointctl-image.1" >/dev/null 2>&1 ||
    [ ! -x "$(command -v man)" ] || { echo "FAIL: man page does not render" >&2; exit 1; }

$MAKE --no-print-directory uninstall DESTDIR="$dest" PREFIX="$prefix" "$@"
left=$(cd "$dest" && find . -type f)
if [ -n "$left" ]; then
    echo "FAIL: uninstall left files behind:" >&2
    echo "$left" >&2
    exit 1
fi
[ ! -e "$dest$libexecdir/checkpointctl" ] || { echo "FAIL: uninstall left $libexecdir/checkpointctl" >&2; exit 1; }

# install without a build must fail clearly, not build.
if $MAKE --no-print-directory install DESTDIR="$dest" PREFIX="$prefix" CARGO_TARGET_DIR="$dest/no-target" "$@" 2>"$dest/err"; then
    echo "FAIL: install succeeded without a built binary" >&2
    exit 1
fi
grep -q "run 'make build' first" "$dest/err" || { echo "FAIL: unclear error:" >&2; cat "$dest/err" >&2; exit 1; }

echo "install smoke test: ok ($libexecdir, $mandir)"
