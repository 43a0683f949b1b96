#!/usr/bin/env bash
# Benchmark checkpointctl-image against the buildah recipe and the hardware floor (issue #7).
#
#   bash contrib/bench/bench.sh [OPTIONS]
#
# Options:
#   --sizes LIST        archive sizes, comma-separated, K/M/G suffixes (default 256M,1G)
#   --runs N            measured runs per case after one warm-up run (default 5)
#   --inputs LIST       archive inputs: tar, zst (default tar,zst)
#   --cases LIST        cases to run (default: all; see README.md for the list)
#   --check-iters N     measured iterations per `check` variant (default 20)
#   --json FILE         also write the results as JSON to FILE
#   --write-results     write contrib/bench/RESULTS.md (machine, sizes, medians, ratios)
#   --results-file F    write the RESULTS.md text to F instead (implies --write-results)
#   --smoke             CI mode: --sizes 64M --runs 1 --check-iters 5 (< 1 minute)
#   --bin PATH          checkpointctl-image binary (default: $CHECKPOINTCTL_IMAGE, else
#                       ${CARGO_TARGET_DIR:-target}/release/checkpointctl-image, built if missing)
#   --no-build          never run `cargo build --release`
#   --workdir DIR       put archives and throwaway stores in DIR (kept; archives are reused
#                       by the next run). Default: a fresh dir under ${TMPDIR:-/var/tmp},
#                       removed at exit.
#   --keep              do not remove the default workdir at exit
#   -h, --help          this text
#
# Each run is measured by measure.py (wall, /usr/bin/time's user/sys/max RSS of the process
# tree, and the command's own VmHWM) and gets a fresh throwaway store under the workdir:
# podman's default store (/var/lib/containers/storage) is never used
# (CONTAINERS_STORAGE_CONF points at a private storage.conf as well).
#
# The script measures, it does not judge: it exits 0 when targets are missed (printed as
# PASS/MISS) or when buildah or a containers-storage backend is missing or fails (printed as
# SKIPPED/FAILED). It exits non-zero when the benchmark itself is broken: archive
# generation, the floors or a checkpointctl-image `oci:` build failing.
# shellcheck disable=SC2016  # the bash -c scripts expand their variables themselves
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmdline="bash contrib/bench/bench.sh${*:+ $*}"

sizes="256M,1G"
runs=5
inputs="tar,zst"
cases=""
check_iters=20
json_out=""
write_results=0
results_file="$here/RESULTS.md"
smoke=0
bin="${CHECKPOINTCTL_IMAGE:-}"
no_build=0
workdir=""
keep=0

usage() { sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | grep '^#' | grep -v shellcheck | sed 's/^# \{0,1\}//'; }
die() { echo "bench.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --sizes=*) sizes=${1#*=}; shift ;;
        --runs) runs=$2; shift 2 ;;
        --runs=*) runs=${1#*=}; shift ;;
        --inputs) inputs=$2; shift 2 ;;
        --inputs=*) inputs=${1#*=}; shift ;;
        --cases) cases=$2; shift 2 ;;
        --cases=*) cases=${1#*=}; shift ;;
        --check-iters) check_iters=$2; shift 2 ;;
        --check-iters=*) check_iters=${1#*=}; shift ;;
        --json) json_out=$2; shift 2 ;;
        --json=*) json_out=${1#*=}; shift ;;
        --write-results) write_results=1; shift ;;
        --results-file) results_file=$2; write_results=1; shift 2 ;;
        --results-file=*) results_file=${1#*=}; write_results=1; shift ;;
        --smoke) smoke=1; sizes=64M; runs=1; check_iters=5; shift ;;
        --bin) bin=$2; shift 2 ;;
        --bin=*) bin=${1#*=}; shift ;;
        --no-build) no_build=1; shift ;;
        --workdir) workdir=$2; shift 2 ;;
        --workdir=*) workdir=${1#*=}; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $check_iters =~ ^[1-9][0-9]*$ ]] || die "--check-iters must be a positive integer"

all_cases=(buildah cs-overlay cs-vfs oci-none oci-gzip oci-zstd floor-extract floor-copy floor-copy-fsync floor-zstd-d check)
# Cases run on the zstd input by default (gzip recompression of a zstd input adds nothing new).
zst_default=(buildah cs-overlay cs-vfs oci-none oci-zstd floor-zstd-d)
if [[ -n $cases ]]; then
    IFS=, read -r -a want_cases <<<"$cases"
    for c in "${want_cases[@]}"; do
        [[ " ${all_cases[*]} " == *" $c "* ]] || die "unknown case '$c' (known: ${all_cases[*]})"
    done
else
    want_cases=("${all_cases[@]}")
fi
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a input_list <<<"$inputs"
for i in "${input_list[@]}"; do
    [[ $i == tar || $i == zst ]] || die "unknown input '$i' (tar or zst)"
done
want() { [[ " ${want_cases[*]} " == *" $1 "* ]]; }
want_on() { # CASE INPUT
    want "$1" || return 1
    case "$2" in
        tar) [[ $1 != floor-zstd-d ]] ;;
        zst) [[ -n $cases || " ${zst_default[*]} " == *" $1 "* ]] && [[ $1 != floor-extract && $1 != floor-copy* ]] ;;
    esac
}

# ---- tools ---------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }
need tar "GNU tar"
need zstd "apt-get install zstd"
need openssl "apt-get install openssl"
need python3 "apt-get install python3"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (apt-get install time)"
have_buildah=0
command -v buildah >/dev/null 2>&1 && have_buildah=1

if [[ -z $bin ]]; then
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/checkpointctl-image"
    if [[ ! -x $bin ]]; then
        ((no_build)) && die "$bin not found (build it, or give --bin)"
        echo "bench.sh: building $bin" >&2
        (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
    fi
fi
[[ -x $bin ]] || die "checkpointctl-image binary $bin is not executable"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# ---- workdir -------------------------------------------------------------------------------
own_workdir=0
if [[ -z $workdir ]]; then
    workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/checkpointctl-image-bench.XXXXXX")
    own_workdir=1
fi
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
[[ $workdir != / && $workdir != /var/lib/containers* ]] || die "refusing workdir $workdir"

unmount_under() { # DIR: unmount whatever a buildah/overlay run left mounted below DIR
    local m
    while read -r m; do
        if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(findmnt -rn -o TARGET 2>/dev/null | grep -F "$1/" | sort -r || true)
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    unmount_under "$workdir"
    if ((own_workdir && !keep)); then
        rm -rf "$workdir"
    else
        rm -rf "$workdir"/runs
        echo "bench.sh: workdir kept: $workdir" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private storage.conf: even a command that missed its --root/--runroot cannot reach the
# default store.
cat >"$workdir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$workdir/default-graphroot"
runroot = "$workdir/default-runroot"
EOF
export CONTAINERS_STORAGE_CONF="$workdir/storage.conf"
mkdir -p "$workdir/archives" "$workdir/runs"

raw="$workdir/raw.tsv"
archives_tsv="$workdir/archives.tsv"
: >"$raw"
: >"$archives_tsv"

log() { echo "bench.sh: $*" >&2; }

to_bytes() {
    local s=${1^^} n mult=1
    case "$s" in
        *K) n=${s%K}; mult=1024 ;;
        *M) n=${s%M}; mult=$((1024 * 1024)) ;;
        *G) n=${s%G}; mult=$((1024 * 1024 * 1024)) ;;
        *) n=$s ;;
    esac
    [[ $n =~ ^[0-9]+$ ]] || die "bad size '$1'"
    echo $((n * mult))
}
for s in "${size_list[@]}"; do to_bytes "$s" >/dev/null; done

# ---- archives ------------------------------------------------------------------------------
gen_stamp=$(cat "$here/gen-archive.sh" "$repo/tests/fixtures/podman-5.4.2/runc/counter-none.tar" | openssl dgst -sha256 -r | cut -c1-16)
archive_for() { # SIZE -> path of the .tar (and .tar.zst), generated unless cached
    local size=${1^^} a
    a="$workdir/archives/ckpt-$size.tar"
    local need_zst=0
    [[ " ${input_list[*]} " == *" zst "* ]] && need_zst=1
    local fresh=1
    [[ -f $a && -f $a.stamp && $(cat "$a.stamp") == "$gen_stamp" ]] || fresh=0
    ((need_zst)) && [[ ! -f $a.zst ]] && fresh=0
    if ((!fresh)); then
        log "generating $size archive ($a)"
        rm -f "$a.stamp"
        local t0=$EPOCHREALTIME
        if ((need_zst)); then
            bash "$here/gen-archive.sh" --zstd "$size" "$a" >&2
        else
            bash "$here/gen-archive.sh" "$size" "$a" >&2
        fi
        echo "$gen_stamp" >"$a.stamp"
        log "generated $size in $(python3 -c "print(f'{$EPOCHREALTIME-$t0:.1f}')") s"
    fi
    echo "$a"
}

# ---- one measured command ------------------------------------------------------------------
# record SIZE INPUT CASE ROUND RUNDIR -- ARGV...: run ARGV under measure.py (/usr/bin/time
# plus the command's own VmHWM), append a row to raw.tsv:
# size input case round rc wall_s user_s sys_s tree_maxrss_kib own_hwm_kib error
record() {
    local size=$1 input=$2 case=$3 round=$4 rd=$5
    shift 6
    local rc=0
    python3 "$here/measure.py" "$rd/.measure" -- "$@" >"$rd/.out" 2>"$rd/.err" </dev/null || rc=$?
    local wall=0 user=0 sys=0 rss=0 own=0 err=""
    if [[ -s $rd/.measure ]]; then
        read -r wall user sys rss own <"$rd/.measure"
    fi
    if ((rc != 0)); then
        err=$(grep -v '^$' "$rd/.err" | tail -n 3 | tr '\t\n' '  ' | cut -c1-300 | sed 's/ *$//')
        [[ -n $err ]] || err="exit status $rc"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$input" "$case" "$round" \
        "$rc" "$wall" "$user" "$sys" "$rss" "$own" "$err" >>"$raw"
    return $rc
}

# The scripts below are run with `bash -c` and take their paths from the environment
# (single quotes on purpose: SC2016 is disabled at the top of the file).
# The buildah recipe checkpointctl build / podman --create-image use, one annotation per call.
buildah_recipe='set -e
b() { buildah --root "$R" --runroot "$RR" --storage-driver overlay "$@"; }
c=$(b from scratch)
b add "$c" "$A" / >/dev/null
while IFS= read -r -d "" kv; do b config --annotation "$kv" "$c"; done <"$ANN"
b commit -q "$c" localhost/bench:latest >/dev/null'

floor_extract='set -e
mkdir -p "$D/rootfs"
tar -xf "$A" -C "$D/rootfs"
openssl dgst -sha256 "$A" >/dev/null'

floor_copy='set -e
cp "$A" "$D/blob"
openssl dgst -sha256 "$A" >/dev/null'

# Informational: the copy floor plus the fsync of the blob that an OCI layout writer does
# before renaming it into place (containers/image does too).
floor_copy_fsync='set -e
cp "$A" "$D/blob"
openssl dgst -sha256 "$A" >/dev/null
sync "$D/blob"'

# run_case SIZE INPUT CASE ROUND ARCHIVE ANNFILE -> 0 ok, 1 failed
run_case() {
    local size=$1 input=$2 case=$3 round=$4 a=$5 ann=$6 rd
    rd=$(mktemp -d "$workdir/runs/$case.XXXXXX")
    local ref="localhost/bench:latest" rc=0
    case "$case" in
        buildah)
            R="$rd/root" RR="$rd/runroot" A="$a" ANN="$ann" \
                record "$size" "$input" "$case" "$round" "$rd" -- bash -c "$buildah_recipe" || rc=$?
            buildah --root "$rd/root" --runroot "$rd/runroot" --storage-driver overlay rm -a \
                >/dev/null 2>&1 || true
            ;;
        cs-overlay | cs-vfs)
            record "$size" "$input" "$case" "$round" "$rd" -- "$bin" build "$a" \
                "containers-storage:[${case#cs-}@$rd/root+$rd/runroot]$ref" || rc=$?
            ;;
        oci-none | oci-gzip | oci-zstd)
            record "$size" "$input" "$case" "$round" "$rd" -- "$bin" build \
                --compression "${case#oci-}" "$a" "oci:$rd/oci:bench" || rc=$?
            ;;
        floor-extract)
            A="$a" D="$rd" record "$size" "$input" "$case" "$round" "$rd" -- bash -c "$floor_extract" || rc=$?
            ;;
        floor-copy)
            A="$a" D="$rd" record "$size" "$input" "$case" "$round" "$rd" -- bash -c "$floor_copy" || rc=$?
            ;;
        floor-copy-fsync)
            A="$a" D="$rd" record "$size" "$input" "$case" "$round" "$rd" -- bash -c "$floor_copy_fsync" || rc=$?
            ;;
        floor-zstd-d)
            record "$size" "$input" "$case" "$round" "$rd" -- zstd -dcq "$a" -o /dev/null || rc=$?
            ;;
    esac
    unmount_under "$rd"
    rm -rf "$rd"
    return $rc
}

# ---- check: an image already in storage -----------------------------------------------------
run_check() { # SIZE ARCHIVE
    local size=$1 a=$2 cd src="" kind
    cd="$workdir/runs/check-store"
    rm -rf "$cd"
    mkdir -p "$cd"
    if "$bin" build "$a" "containers-storage:[overlay@$cd/root+$cd/runroot]localhost/bench:check" \
        >"$cd/build.log" 2>&1; then
        src="containers-storage:[overlay@$cd/root+$cd/runroot]localhost/bench:check"
        kind=containers-storage
    elif "$bin" build --compression none "$a" "oci:$cd/oci:check" >>"$cd/build.log" 2>&1; then
        src="oci:$cd/oci:check"
        kind=oci
        log "check: containers-storage build failed, timing check on the oci: image instead"
    else
        log "check: could not build an image to check"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${size^^}" "tar" "check" 0 1 0 0 0 0 0 \
            "no image to check: $(tail -n 1 "$cd/build.log" | cut -c1-200)" >>"$raw"
        return 0
    fi
    local variant i rd rc
    for variant in criu-arg probe; do
        local args=(check)
        [[ $variant == criu-arg ]] && args+=(--criu-version 4.1.1)
        args+=("$src")
        rd="$cd/run-$variant"
        mkdir -p "$rd"
        for ((i = 0; i <= check_iters + 1; i++)); do
            # two warm-up calls (round 0), then the measured ones
            local round=$((i < 2 ? 0 : i - 1))
            rc=0
            record "${size^^}" "$kind" "check-$variant" "$round" "$rd" -- "$bin" "${args[@]}" || rc=$?
            # exit 3 = the host is not compatible: check ran fine, that is a result
            if ((rc == 3)); then
                python3 - "$raw" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
f = lines[-1].split("\t")
f[4] = "0"; f[10] = "exit 3 (host not compatible; check ran)"
lines[-1] = "\t".join(f)
open(p, "w").write("\n".join(lines) + "\n")
PY
            elif ((rc != 0)); then
                break
            fi
        done
    done
    rm -rf "$cd"
}

# ---- main loop -----------------------------------------------------------------------------
start_load=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
essential_failed=0
for size in "${size_list[@]}"; do
    size=${size^^}
    a=$(archive_for "$size") || { echo "bench.sh: generating the $size archive failed" >&2; exit 1; }
    [[ -s $a ]] || { echo "bench.sh: archive $a missing" >&2; exit 1; }
    usize=$(stat -c %s "$a")
    printf '%s\ttar\t%s\t%s\t%s\n' "$size" "$a" "$usize" "$usize" >>"$archives_tsv"
    if [[ " ${input_list[*]} " == *" zst "* ]]; then
        [[ -s $a.zst ]] || { echo "bench.sh: archive $a.zst missing" >&2; exit 1; }
        printf '%s\tzst\t%s\t%s\t%s\n' "$size" "$a.zst" "$(stat -c %s "$a.zst")" "$usize" >>"$archives_tsv"
    fi

    # The annotation keys checkpointctl-image writes for this archive, for the buildah recipe.
    ann="$workdir/archives/ckpt-$size.annotations"
    if ! "$bin" build --format json --compression none "$a" "oci:$workdir/runs/ann:ann" \
        >"$workdir/runs/ann.json" 2>"$workdir/runs/ann.err"; then
        echo "bench.sh: checkpointctl-image build into oci: failed on the $size archive:" >&2
        cat "$workdir/runs/ann.err" >&2
        exit 1
    fi
    python3 - "$workdir/runs/ann.json" "$ann" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ann = doc["annotations"]
with open(sys.argv[2], "wb") as f:
    for k, v in ann.items():
        f.write(f"{k}={v}".encode() + b"\0")
print(f"bench.sh: buildah recipe gets {len(ann)} annotations", file=sys.stderr)
PY
    rm -rf "$workdir/runs/ann" "$workdir/runs/ann.json" "$workdir/runs/ann.err"

    declare -A dead=()
    for ((round = 0; round <= runs; round++)); do
        log "$size: round $round/$runs$( ((round == 0)) && echo ' (warm-up)')"
        for input in "${input_list[@]}"; do
            ain=$a
            [[ $input == zst ]] && ain=$a.zst
            for c in "${all_cases[@]}"; do
                [[ $c == check ]] && continue
                want_on "$c" "$input" || continue
                key="$input/$c"
                if [[ $c == buildah ]] && ((!have_buildah)); then
                    ((round == 0)) && printf '%s\t%s\t%s\t0\t-1\t0\t0\t0\t0\t0\tbuildah not installed\n' \
                        "$size" "$input" "$c" >>"$raw"
                    continue
                fi
                [[ -n ${dead[$key]:-} ]] && continue
                if ! run_case "$size" "$input" "$c" "$round" "$ain" "$ann"; then
                    dead[$key]=1
                    log "$size $input $c: FAILED: $(tail -n 1 "$raw" | cut -f11)"
                    case "$c" in oci-* | floor-*) essential_failed=1 ;; esac
                fi
            done
        done
    done
    unset dead
    if want check; then
        log "$size: check"
        run_check "$size" "$a"
    fi
done
end_load=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report --------------------------------------------------------------------------------
tool_version=$("$bin" version 2>/dev/null | head -n 1 || echo unknown)
tool_version=${tool_version#checkpointctl-image }
git_rev=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
buildah_version=$( ((have_buildah)) && buildah --version 2>/dev/null | head -n 1 || echo "not installed")
report_args=(--raw "$raw" --archives "$archives_tsv" --runs "$runs" --check-iters "$check_iters"
    --cmdline "$cmdline" --tool-version "$tool_version" --git-rev "$git_rev"
    --buildah-version "$buildah_version" --load-start "$start_load" --load-end "$end_load"
    --started "$started_at")
[[ -n $json_out ]] && report_args+=(--json "$json_out")
((write_results)) && report_args+=(--results "$results_file")
((smoke)) && report_args+=(--smoke)
python3 "$here/report.py" "${report_args[@]}"

if ((essential_failed)); then
    echo "bench.sh: a floor or a checkpointctl-image oci: build failed; the benchmark is broken" >&2
    exit 1
fi
exit 0
