#!/usr/bin/env bash
# Generate a synthetic Podman checkpoint archive of a given size for the benchmark.
#
#   gen-archive.sh [--fixture TAR] [--zstd] SIZE OUT.tar
#
# SIZE is bytes with an optional K/M/G suffix (binary: 64M = 64 MiB). The archive imitates
# `podman container checkpoint --export --compress none` (see
# tests/fixtures/podman-5.4.2/README.md): every member of the real fixture archive, in the
# same order (config.dump, spec.dump, network.status, stats-dump, checkpoint/inventory.img,
# checkpoint/core-1.img, ..., rootfs-diff.tar, ...), except that the fixture's small
# checkpoint/pages-*.img are replaced by pages-1.img .. pages-K.img that together make up SIZE
# (rounded down to whole 4 KiB pages). Each pages file is half random and half zero pages,
# so the whole archive is half random, half zeros. Owners are 0/0, every mtime is the
# fixture's checkpoint time, the format is ustar (what Go's archive/tar writes for these).
#
# With --zstd, OUT.tar.zst (zstd -3 -T0, like Podman's default export) is written next to
# OUT.tar as well. Needs: GNU tar, coreutils, zstd (for --zstd).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixture="$here/../../tests/fixtures/podman-5.4.2/runc/counter-none.tar"
want_zstd=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --fixture) fixture=$2; shift 2 ;;
        --zstd) want_zstd=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        --) shift; break ;;
        -*) echo "gen-archive.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[[ $# -eq 2 ]] || { echo "usage: gen-archive.sh [--fixture TAR] [--zstd] SIZE OUT.tar" >&2; exit 2; }
size_arg=$1
out=$2

to_bytes() {
    local s=${1^^} n mult=1
    case "$s" in
        *KIB|*K) n=${s%%K*}; mult=1024 ;;
        *MIB|*M) n=${s%%M*}; mult=$((1024 * 1024)) ;;
        *GIB|*G) n=${s%%G*}; mult=$((1024 * 1024 * 1024)) ;;
        *) n=$s ;;
    esac
    [[ $n =~ ^[0-9]+$ ]] || { echo "gen-archive.sh: bad size '$1'" >&2; return 2; }
    echo $((n * mult))
}

total=$(to_bytes "$size_arg")
page=4096
pages=$((total / page))
((pages >= 16)) || { echo "gen-archive.sh: size $size_arg is too small (min 64 KiB)" >&2; exit 2; }
[[ -r $fixture ]] || { echo "gen-archive.sh: fixture $fixture not readable" >&2; exit 1; }

# A few large pages files, like CRIU writes for a handful of processes / page pipes:
# at least 4, at most 64 MiB each.
nfiles=$(((total + 64 * 1024 * 1024 - 1) / (64 * 1024 * 1024)))
((nfiles < 4)) && nfiles=4

outdir=$(dirname "$out")
mkdir -p "$outdir"
stage=$(mktemp -d "$outdir/.gen-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

tar -xpf "$fixture" -C "$stage"
rm -f "$stage"/checkpoint/pages-*.img
chmod 0700 "$stage/checkpoint"   # the fixture's dir is 0600; we need to write into it

per=$((pages / nfiles))
left=$pages
pages_list=()
for ((i = 1; i <= nfiles; i++)); do
    n=$per
    ((i == nfiles)) && n=$left
    left=$((left - n))
    rnd=$((n / 2))
    zero=$((n - rnd))
    f="checkpoint/pages-$i.img"
    {
        head -c $((rnd * page)) /dev/urandom
        head -c $((zero * page)) /dev/zero
    } >"$stage/$f"
    pages_list+=("$f")
done
chmod 0600 "$stage/checkpoint"   # back to what Podman writes (drw-------)

# Member list in the fixture's order, pages files substituted in place of the first one.
mtime=$(tar --full-time -tvf "$fixture" config.dump | awk '{print $4" "$5}')
list="$stage.list"
trap 'rm -rf "$stage" "$list"' EXIT
inserted=0
while IFS= read -r m; do
    if [[ $m == checkpoint/pages-*.img ]]; then
        if ((!inserted)); then
            printf '%s\n' "${pages_list[@]}"
            inserted=1
        fi
        continue
    fi
    printf '%s\n' "$m"
done < <(tar -tf "$fixture") >"$list"
((inserted)) || printf '%s\n' "${pages_list[@]}" >>"$list"

tmp_out="$out.tmp.$$"
tar -cf "$tmp_out" -C "$stage" --no-recursion --format=ustar --owner=0 --group=0 \
    --numeric-owner --mtime="$mtime" -T "$list"
mv -f "$tmp_out" "$out"
rm -rf "$stage" "$list"

if ((want_zstd)); then
    zstd -q -f -3 -T0 "$out" -o "$out.zst.tmp.$$"
    mv -f "$out.zst.tmp.$$" "$out.zst"
fi
