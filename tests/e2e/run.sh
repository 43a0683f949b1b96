#!/bin/bash
# End-to-end test of checkpointctl-image with real CRIU and Podman.
#
# Sets up (or reuses) the project's lab (tests/e2e/lab.sh: Debian trixie with
# podman 5.4, CRIU 4.1, runc, crun, checkpointctl 1.3, in its own mount and
# network namespace), builds checkpointctl-image, and for each runtime:
#
#   1. runs a counter container with a named volume, a created and a deleted
#      file in its rootfs;
#   2. checkpoints it with `podman container checkpoint --export` in each
#      compression (none, gzip, zstd);
#   3. builds each archive into the lab's containers-storage
#      (`checkpointctl-image build ARCHIVE NAME`, default store of the lab);
#   4. checks the image (`check --format json` must exit 0, `check --runtime
#      OTHER` must exit 3 naming the runtime rule);
#   5. removes container and volume, `podman container restore IMAGE`, and
#      verifies the counter goes on past the checkpointed value, /lab-marker
#      exists, /bin/vi is deleted and /data/hello is in the volume;
#   6. does the same with an `oci-archive:` build restored after `podman load`;
#   7. does the same with Podman's own `checkpoint --create-image` as reference
#      and prints all sources side by side;
#   8. runs `podman system check` on the lab store and `checkpointctl plugin list`.
#
# Usage (root):  bash tests/e2e/run.sh
# Environment:
#   CHECKPOINTCTL_IMAGE   binary to test (default: `cargo build --release`)
#   CARGO_TARGET_DIR      cargo's target dir (default: ./target)
#   E2E_RUNTIMES          default "runc crun"
#   E2E_COMPRESSIONS      default "none gzip zstd"
#   E2E_TIMEOUT           per-command timeout inside the lab, seconds (default 120)
#   E2E_KEEP_LAB=1        leave the lab namespace up afterwards (for debugging)
#   LAB_ROOT, LAB_XFER, LAB_PIDFILE, LAB_MIRROR   see tests/e2e/lab.sh
# Output: one PASS/FAIL line per assertion, diagnostics under failures, a side
# by side table per runtime, and as the last line "N passed, M failed".
# Logs of every step: $LAB_XFER/e2e/logs/. Exit status 0 only if nothing failed.

set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
export LAB_ROOT=${LAB_ROOT:-/srv/ckptimg-lab}
export LAB_XFER=${LAB_XFER:-/srv/ckptimg-xfer}
export LAB_PIDFILE=${LAB_PIDFILE:-/run/ckptimg-lab.pid}
# shellcheck source=tests/e2e/lab.sh
. "$HERE/lab.sh"

E2E_RUNTIMES=${E2E_RUNTIMES:-"runc crun"}
E2E_COMPRESSIONS=${E2E_COMPRESSIONS:-"none gzip zstd"}
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
XD=$LAB_XFER/e2e        # on the host
LXD=/xfer/e2e           # the same directory inside the lab
CPI=$LXD/bin/checkpointctl-image
BASE_IMAGE=localhost/busybox:lab
# shellcheck disable=SC2016 # expanded by the container's shell
COUNTER='echo lab-marker > /lab-marker; rm -f /bin/vi; echo hello > /data/hello; i=0; while true; do echo $i; i=$((i+1)); sleep 1; done'

PASSED=0
FAILED=0
SKIPPED=0
STEPS=0
FAILURES=()
NOTES=()
TABLE=()
RT=runc
OTHER=crun
C=""          # counter value at the last checkpoint
RESTORED=""   # "first..last" counter values seen after the last restore
SETUP_PID=""  # the background lab setup
T_START=$(date +%s)

say() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); say "PASS  $1${2:+  $2}"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); say "FAIL  $1${2:+  $2}"; }
skip() { SKIPPED=$((SKIPPED + 1)); say "SKIP  $1${2:+  ($2)}"; }
note() { NOTES+=("$1"); say "NOTE  $1"; }

# L CMD...: run CMD inside the lab with the current runtime as podman's default
# (CONTAINERS_CONF_OVERRIDE, as `podman container restore IMAGE` compares the
# image's runtime annotation with the default) and a timeout.
L() {
  lab_run timeout -k 10 "$E2E_TIMEOUT" env CONTAINERS_CONF_OVERRIDE="$LXD/rt-$RT.conf" "$@"
}
# lx CMD...: the same, echoing the command first (into the step's log).
lx() { say "+ $*"; L "$@"; }

# Diagnostics for a failed step: its output, and CRIU logs written meanwhile.
show_diag() {
  local log=$1 f
  say "      --- output of the failed step ($log), last 40 lines:"
  tail -n 40 "$log" | sed 's/^/      | /'
  # shellcheck disable=SC2016
  for f in $(lab_run sh -c 'find /var/lib/containers/storage/overlay-containers /var/tmp \
      -maxdepth 4 \( -name dump.log -o -name restore.log \) -newer "$1" 2>/dev/null' - "$LXD/.stamp"); do
    say "      --- CRIU log $f (inside the lab): errors, then the last 20 lines:"
    lab_run grep -m 10 -E 'Error|Warn' "$f" | sed 's/^/      ! /' || true
    lab_run tail -n 20 "$f" | sed 's/^/      | /'
  done
}

# step NAME FUNC ARGS...: run FUNC with its output in a log file; PASS or FAIL
# with diagnostics. Lines "=> ..." of a passing step are shown.
# (FUNC runs with errexit off, so FUNCs check every command themselves.)
step() {
  local name=$1 log rc=0 t0 t1
  shift
  STEPS=$((STEPS + 1))
  log=$(printf '%s/logs/%03d.log' "$XD" "$STEPS")
  say "### $name" > "$log"
  touch "$XD/.stamp"
  t0=$(date +%s%N)
  "$@" >>"$log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  local took
  took=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2fs", (b-a)/1e9}')
  if [ "$rc" -eq 0 ]; then
    pass "$name" "[$took]"
    grep '^=> ' "$log" | sed 's/^=> /      /' || true
  else
    fail "$name" "[$took, rc=$rc]"
    show_diag "$log"
  fi
  return "$rc"
}

# --- the counter container --------------------------------------------------

rm_counter() {
  L podman rm -f -t 0 counter >/dev/null 2>&1 || true
  L podman volume rm -f labvol >/dev/null 2>&1 || true
}

counter_running() {
  [ "$(L podman inspect -f '{{.State.Status}}' counter 2>/dev/null)" = running ]
}

start_counter() {
  rm_counter
  lx podman run -d --name counter -v labvol:/data "$BASE_IMAGE" sh -c "$COUNTER" || return 1
  local i n=0
  for i in $(seq 40); do
    n=$(L podman logs counter 2>/dev/null | wc -l)
    [ "$n" -ge 3 ] && break
    sleep 0.25
  done
  say "=> counter printed $n lines after start (waited $i polls)"
  [ "$n" -ge 3 ]
}

# checkpoint_export COMP FILE: checkpoint the running counter into FILE; sets C.
checkpoint_export() {
  local comp=$1 file=$2
  lx podman container checkpoint --export "$file" --compress "$comp" counter || return 1
  checkpointed_value || return 1
  say "=> checkpointed at counter=$C; archive $(stat -c %s "$XD/${file#"$LXD"/}") bytes"
}

checkpointed_value() {
  local state
  C=$(L podman logs counter 2>/dev/null | tail -n 1)
  state=$(L podman inspect -f '{{.State.Status}}' counter 2>/dev/null)
  say "counter state after checkpoint: $state, last value: $C"
  [[ $C =~ ^[0-9]+$ ]] || { say "cannot read the checkpointed counter value"; return 1; }
  [ "$state" = exited ] || { say "container should be exited after checkpoint, is: $state"; return 1; }
}

# verify SINCE: the restored counter goes on from C+1 (lines logged since the
# restore), its rootfs changes and its volume are there.
verify() {
  local since=$1 lines last first i ok=1
  for i in $(seq 40); do
    lines=$(L podman logs --since "$since" counter 2>/dev/null || true)
    last=$(printf '%s\n' "$lines" | tail -n 1)
    [[ $last =~ ^[0-9]+$ ]] && [ "$last" -ge $((C + 2)) ] && break
    sleep 0.25
  done
  first=$(printf '%s\n' "$lines" | head -n 1)
  RESTORED="$C -> $first..$last"
  say "log since restore: $(printf '%s\n' "$lines" | tr '\n' ' ')"
  if [ "$first" != "$((C + 1))" ]; then
    say "counter did not continue: checkpointed at $C, first value after restore '$first' (expected $((C + 1)))"; ok=0
  fi
  if ! printf '%s\n' "$lines" | awk -v c="$C" 'NF{ if ($1 != c+1) exit 1; c=$1 } END{ exit 0 }'; then
    say "counter values after restore are not consecutive"; ok=0
  fi
  if ! [[ $last =~ ^[0-9]+$ ]] || [ "$last" -lt $((C + 2)) ]; then
    say "counter did not go on past $((C + 1)) within 10 s (last '$last')"; ok=0
  fi
  if [ "$(L podman inspect -f '{{.State.Status}}' counter 2>/dev/null)" != running ]; then
    say "container is not running"; ok=0
  fi
  local marker hello mp vol_hello
  marker=$(L podman exec counter cat /lab-marker 2>&1)
  [ "$marker" = lab-marker ] || { say "/lab-marker: '$marker' (expected lab-marker)"; ok=0; }
  if L podman exec counter test -e /bin/vi; then
    say "/bin/vi exists, but was deleted before the checkpoint"; ok=0
  fi
  hello=$(L podman exec counter cat /data/hello 2>&1)
  [ "$hello" = hello ] || { say "/data/hello in the container: '$hello' (expected hello)"; ok=0; }
  mp=$(L podman volume inspect labvol --format '{{.Mountpoint}}' 2>&1)
  vol_hello=$(L cat "$mp/hello" 2>&1)
  [ "$vol_hello" = hello ] || { say "volume labvol ($mp) has no hello file: '$vol_hello'"; ok=0; }
  [ "$ok" = 1 ] || return 1
  say "=> counter $C -> $first..$last; /lab-marker present, /bin/vi deleted, labvol:/hello = hello"
}

lab_now() { L date +%Y-%m-%dT%H:%M:%S.%NZ -u; }

# restore_image IMAGE: remove container and volume, restore from the image.
restore_image() {
  local since
  rm_counter
  since=$(lab_now)
  lx podman container restore "$1" || return 1
  verify "$since"
}

# restore_import FILE: remove container and volume, restore --import.
restore_import() {
  local since
  rm_counter
  since=$(lab_now)
  lx podman container restore --import "$1" || return 1
  verify "$since"
}

# load_image OCI_ARCHIVE NAME: podman load, which must name NAME.
load_image() {
  local out
  say "+ podman load -i $1"
  out=$(L podman load -i "$1" 2>&1) || { say "$out"; return 1; }
  say "$out"
  printf '%s\n' "$out" | grep -q "Loaded image.*$2" || { say "podman load did not load $2"; return 1; }
  say "=> $(printf '%s\n' "$out" | tail -n 1)"
}

# --- checkpointctl-image ----------------------------------------------------

build_image() { # ARCHIVE DEST
  local out
  say "+ $CPI build $1 $2"
  out=$(L "$CPI" build "$1" "$2" 2>&1) || { say "$out"; return 1; }
  say "$out"
  say "=> $(printf '%s\n' "$out" | grep -E '^ +(image ID|layer) ' | sed 's/^ *//; s/  */ /g' | paste -sd ';' - | sed 's/;/; /g')"
}

# JSON report of `check` (src/commands/check.rs): {"compatible": bool,
# "checks": [{"name", "verdict": ok|warn|fail, "checkpoint", "host", "reason"}], ...}

# check_ok SOURCE: check --format json exits 0, one JSON document, compatible,
# no failing rule.
check_ok() {
  local out rc=0 failing
  say "+ $CPI check $1 --format json"
  out=$(L "$CPI" check "$1" --format json) || rc=$?
  say "$out"
  [ "$rc" -eq 0 ] || { say "check exited $rc, expected 0"; return 1; }
  failing=$(printf '%s\n' "$out" | L jq -er '[.checks[] | select(.verdict == "fail") | .name] | join(",")') \
    || { say "stdout is not one JSON report with .checks[]"; return 1; }
  [ -z "$failing" ] || { say "failing checks: $failing"; return 1; }
  printf '%s\n' "$out" | L jq -e '.compatible == true' >/dev/null || { say ".compatible is not true"; return 1; }
  say "=> compatible; $(printf '%s\n' "$out" | L jq -r '[.checks[] | "\(.name)=\(.verdict)"] | join(" ")')"
}

# check_wrong_runtime SOURCE: check --runtime OTHER exits 3, and the one
# failing rule is "runtime".
check_wrong_runtime() {
  local out rc=0 failing
  say "+ $CPI check $1 --runtime $OTHER --format json"
  out=$(L "$CPI" check "$1" --runtime "$OTHER" --format json) || rc=$?
  say "$out"
  [ "$rc" -eq 3 ] || { say "check --runtime $OTHER exited $rc, expected 3"; return 1; }
  failing=$(printf '%s\n' "$out" | L jq -er '[.checks[] | select(.verdict == "fail") | .name] | join(",")') \
    || { say "stdout is not one JSON report with .checks[]"; return 1; }
  [ "$failing" = runtime ] || { say "failing checks: '$failing', expected exactly 'runtime'"; return 1; }
  printf '%s\n' "$out" | L jq -e '.compatible == false' >/dev/null || { say ".compatible is not false"; return 1; }
  say "=> exit 3, failing: runtime ($(printf '%s\n' "$out" | L jq -r '.checks[] | select(.name == "runtime") | .reason'))"
}

plugin_description() {
  local out rc=0
  out=$(L "$CPI" --plugin-description) || rc=$?
  say "$out"
  [ "$rc" -eq 42 ] || { say "--plugin-description exited $rc, expected 42"; return 1; }
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || { say "expected one line"; return 1; }
  say "=> $out"
}

# --- one runtime --------------------------------------------------------------

ext_of() { case $1 in none) echo tar ;; gzip) echo tar.gz ;; zstd) echo tar.zst ;; esac; }

# row COMP SOURCE BUILD CHECK WRONGRT STORE RESTORE COUNTER: one line of the
# side-by-side table
ROWFMT='%-5s %-5s %-22s %-6s %-6s %-8s %-8s %-8s %s'
# shellcheck disable=SC2059 # the format is a constant
row() { TABLE+=("$(printf "$ROWFMT" "$RT" "$@")"); }
# stepv VAR NAME FUNC ARGS...: step, then VAR=ok or FAIL (no subshell: the
# counters and RESTORED must survive)
stepv() {
  local __v=$1
  shift
  if step "$@"; then printf -v "$__v" ok; else printf -v "$__v" FAIL; fi
}

run_runtime() {
  RT=$1
  case $RT in runc) OTHER=crun ;; *) OTHER=runc ;; esac
  mkdir -p "$XD/$RT"
  say ""
  say "===== runtime $RT (podman's default set with CONTAINERS_CONF_OVERRIDE; wrong runtime: $OTHER) ====="
  rm_images "$RT"
  step "$RT: podman system check before the tests (baseline)" system_check "the baseline" || true

  if ! step "$RT: start counter container (volume labvol, /lab-marker created, /bin/vi deleted)" start_counter; then
    skip "$RT: all checkpoint steps" "the counter container did not start"
    return 0
  fi

  local comp ext archive cs oa oafile src b ck wr sc rs c0
  for comp in $E2E_COMPRESSIONS; do
    ext=$(ext_of "$comp")
    archive=$LXD/$RT/counter-$comp.$ext
    cs=localhost/e2e-cs:$RT-$comp
    oa=localhost/e2e-oa:$RT-$comp
    oafile=$LXD/$RT/counter-$comp.oci.tar
    if ! counter_running; then
      step "$RT/$comp: restart the counter (previous restore failed)" start_counter || continue
    fi
    if ! step "$RT/$comp: podman container checkpoint --export --compress $comp" checkpoint_export "$comp" "$archive"; then
      rm_counter
      continue
    fi
    c0=$C

    # 3-5: straight into the lab's containers-storage (its default store)
    b=FAIL ck=- wr=- sc=- rs=- RESTORED=""
    if step "$RT/$comp: checkpointctl-image build ARCHIVE $cs (lab's containers-storage)" build_image "$archive" "$cs"; then
      b=ok
      stepv sc "$RT/$comp: podman system check: no damage after building $cs" system_check "$cs" "$cs"
      stepv ck "$RT/$comp: check $cs --format json exits 0" check_ok "$cs"
      stepv wr "$RT/$comp: check $cs --runtime $OTHER exits 3 naming runtime" check_wrong_runtime "$cs"
      C=$c0
      stepv rs "$RT/$comp: podman container restore $cs" restore_image "$cs"
    else
      skip "$RT/$comp: check and restore of $cs" "build into containers-storage failed"
    fi
    row "$comp" "containers-storage" "$b" "$ck" "$wr" "$sc" "$rs" "${RESTORED:--}"

    # 6: oci-archive, podman load, restore
    b=FAIL ck=- wr=- sc=- rs=- RESTORED=""
    src=oci-archive:$oafile:$oa
    if step "$RT/$comp: checkpointctl-image build ARCHIVE $src" build_image "$archive" "$src"; then
      b=ok
      stepv ck "$RT/$comp: check $src --format json exits 0" check_ok "$src"
      stepv wr "$RT/$comp: check $src --runtime $OTHER exits 3 naming runtime" check_wrong_runtime "$src"
      # the containers-storage image of the same checkpoint may have the same
      # image ID (same config): remove it so that only the loaded image is used
      rm_counter
      L podman rmi -f "$cs" >/dev/null 2>&1 || true
      if step "$RT/$comp: podman load -i ${oafile##*/} -> $oa" load_image "$oafile" "$oa"; then
        stepv sc "$RT/$comp: podman system check: no damage after podman load of $oa" system_check "$oa" "$oa"
        C=$c0
        stepv rs "$RT/$comp: podman container restore $oa (loaded from our oci-archive)" restore_image "$oa"
      else
        rs=FAIL
      fi
    else
      skip "$RT/$comp: check and restore of the oci-archive" "build failed"
    fi
    row "$comp" "oci-archive+load" "$b" "$ck" "$wr" "$sc" "$rs" "${RESTORED:--}"

    # keep the chain going: if no image restore worked, use podman's own import
    if ! counter_running; then
      C=$c0 RESTORED=""
      stepv rs "$RT/$comp: podman container restore --import ARCHIVE (podman alone, to go on)" restore_import "$archive"
      row "$comp" "podman --import" "-" "-" "-" "-" "$rs" "${RESTORED:--}"
    fi
  done

  # 7: Podman's own checkpoint image, as the reference
  local ref=localhost/e2e-ref:$RT
  b=FAIL ck=- wr=- sc=- rs=- RESTORED=""
  if ! counter_running; then
    step "$RT/ref: restart the counter" start_counter || true
  fi
  if step "$RT/ref: podman container checkpoint --create-image $ref" create_image "$ref"; then
    b=ok
    stepv sc "$RT/ref: podman system check: no damage after podman --create-image $ref" system_check "$ref" "$ref"
    stepv ck "$RT/ref: check $ref (Podman's image) --format json exits 0" check_ok "$ref"
    stepv wr "$RT/ref: check $ref --runtime $OTHER exits 3 naming runtime" check_wrong_runtime "$ref"
    stepv rs "$RT/ref: podman container restore $ref" restore_image "$ref"
  fi
  row "ref" "podman --create-image" "$b" "$ck" "$wr" "$sc" "$rs" "${RESTORED:--}"
  compare_annotations

  # pre-checkpoint: not possible on kernels without soft-dirty tracking
  pre_checkpoint

  rm_counter
  rm_images "$RT"
}

# rm_images RT: remove the images this suite made for runtime RT.
rm_images() {
  local comp imgs=("localhost/e2e-ref:$1")
  for comp in $E2E_COMPRESSIONS; do imgs+=("localhost/e2e-cs:$1-$comp" "localhost/e2e-oa:$1-$comp"); done
  lab_run podman rmi -f "${imgs[@]}" >/dev/null 2>&1 || true
}

create_image() {
  lx podman container checkpoint --create-image "$1" counter || return 1
  checkpointed_value || return 1
  say "=> checkpointed at counter=$C into $1"
}

# Manifest annotations of Podman's image vs ours (informational).
compare_annotations() {
  local comp ours ref theirs keys extra
  ref=localhost/e2e-ref:$RT
  theirs=$(L skopeo inspect --raw "containers-storage:$ref" 2>/dev/null | L jq -r '.annotations // {} | keys[]' 2>/dev/null) || return 0
  for comp in $E2E_COMPRESSIONS; do
    for ours in "localhost/e2e-cs:$RT-$comp" "localhost/e2e-oa:$RT-$comp"; do
      keys=$(L skopeo inspect --raw "containers-storage:$ours" 2>/dev/null | L jq -r '.annotations // {} | keys[]' 2>/dev/null) || continue
      [ -n "$keys" ] || continue
      say "INFO  $RT manifest annotations: $ours has $(printf '%s\n' "$keys" | grep -c .), Podman $ref has $(printf '%s\n' "$theirs" | grep -c .)"
      extra=$(comm -23 <(printf '%s\n' "$theirs" | sort) <(printf '%s\n' "$keys" | sort) | tr '\n' ' ')
      [ -z "$extra" ] || say "INFO  $RT annotations only in Podman's image: $extra"
      extra=$(comm -13 <(printf '%s\n' "$theirs" | sort) <(printf '%s\n' "$keys" | sort) | tr '\n' ' ')
      [ -z "$extra" ] || say "INFO  $RT annotations only in ours: $extra"
      return 0
    done
  done
}

pre_checkpoint() {
  local out
  if out=$(L criu check --feature mem_dirty_track 2>&1); then
    note "$RT: pre-checkpoint: CRIU reports memory dirty tracking on this kernel, but this suite does not cover pre-checkpoints"
    return 0
  fi
  out=$(printf '%s\n' "$out" | grep -v '^$' | tail -n 1)
  note "$RT: pre-checkpoint (podman container checkpoint -P / --with-previous): NOT TESTABLE on this kernel ($(uname -r)): no soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY off); criu check --feature mem_dirty_track: $out"
}

# system_check WHAT [IMAGE]: `podman system check` on the lab store: IMAGE (just
# put into the store) is not reported damaged, and no damage appears that the
# previous call did not already report. Damaged images are named.
SYSCHECK_KNOWN=""
system_check() {
  local out rc=0 damaged new id="" names bad=0
  lx podman images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}' || true
  if [ -n "${2:-}" ]; then
    id=$(L podman image inspect --format '{{.ID}}' "$2" 2>&1) || { say "no image $2: $id"; return 1; }
  fi
  say "+ podman system check"
  out=$(L podman system check 2>&1) || rc=$?
  say "$out"
  damaged=$(printf '%s\n' "$out" | grep '^Damaged ' | sort || true)
  new=$(comm -13 <(printf '%s\n' "$SYSCHECK_KNOWN") <(printf '%s\n' "$damaged") | grep . || true)
  SYSCHECK_KNOWN=$damaged
  if [ "$rc" -ne 0 ] && [ -z "$damaged" ]; then
    say "podman system check exited $rc without naming damage"; return 1
  fi
  if [ -n "$id" ] && printf '%s\n' "$damaged" | grep -q "^Damaged image $id"; then
    say "DAMAGED: $1 (image $id)"; bad=1
  fi
  if [ -n "$new" ]; then
    say "new damage since the previous podman system check:"
    while read -r _ kind id; do
      id=${id%:}
      names=""
      [ "$kind" != image ] || names=$(L podman image inspect --format '{{.RepoTags}}' "$id" 2>/dev/null || true)
      say "  damaged $kind $id $names"
    done <<< "$new"
    bad=1
  fi
  if [ "$bad" = 1 ]; then
    if printf '%s\n' "$out" | grep -qE '\(size:[0-9]+.0,mode:[0-7]+.0755'; then
      say "hint: a directory checked with a file's size and mode: the layer tar has no entry for"
      say "      that directory itself (e.g. volumes/labvol.tar without volumes/), so the tar-split"
      say "      that containers-storage verifies against disagrees with the directory on disk"
    fi
    return 1
  fi
  if [ -n "$damaged" ]; then
    say "=> $1 not damaged; earlier damage still reported: $(printf '%s\n' "$damaged" | wc -l) items"
  else
    say "=> no damage (podman system check exit $rc)"
  fi
}

# checkpointctl's plugin support: checkpointctl >= 1.4 runs `checkpointctl-*`
# executables found on PATH; 1.3 (Debian trixie) has no `plugin` command.
plugin_probe() {
  local out rc=0 ver
  mkdir -p "$XD/plugin-path"
  ln -sfn ../bin/checkpointctl-image "$XD/plugin-path/checkpointctl-image"
  # shellcheck disable=SC2016 # a dpkg-query format
  ver="checkpointctl $(lab_run dpkg-query -W -f '${Version}' checkpointctl 2>&1)"
  out=$(lab_run env PATH="$LXD/plugin-path:$LAB_PATH" checkpointctl plugin list 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -qi 'unknown command'; then
    note "plugins: $ver in the lab does NOT support plugins ('checkpointctl plugin list' -> $(printf '%s\n' "$out" | head -n 1)); the plugin protocol is covered only by --plugin-description"
    return 0
  fi
  say "      $ver has a plugin command"
  step "checkpointctl plugin list lists checkpointctl-image (symlinked on PATH)" plugin_list || true
}

plugin_list() {
  local out
  say "+ PATH=$LXD/plugin-path:\$PATH checkpointctl plugin list"
  out=$(lab_run env PATH="$LXD/plugin-path:$LAB_PATH" checkpointctl plugin list 2>&1) || { say "$out"; return 1; }
  say "$out"
  printf '%s\n' "$out" | grep -q 'image' || { say "checkpointctl-image is not listed"; return 1; }
  say "=> $(printf '%s\n' "$out" | grep image | head -n 1)"
}

# --- setup, cleanup -------------------------------------------------------

# What the suite must leave alone on the host: its default containers-storage
# (absent or not) and its network links (no podman0, no veth).
host_snapshot() {
  local d
  for d in /var/lib/containers/storage /run/containers/storage; do
    if [ -e "$d" ]; then
      find "$d" -maxdepth 2 -printf '%p %y %s %T@\n' 2>/dev/null | sort
    else
      echo "$d absent"
    fi
  done
  ip -o link show 2>/dev/null | awk '{print "link " $2}' | sort
}

host_untouched() {
  local before=${TMPDIR:-/tmp}/ckptimg-e2e-host.before
  host_snapshot > "$before.after"
  if ! diff -u "$before" "$before.after"; then
    say "the host changed (above: - before, + after)"; return 1
  fi
  say "=> $(grep -c . "$before") entries unchanged: $(grep -E 'absent$' "$before" | tr '\n' ' ')links: $(grep -c '^link ' "$before")"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  set +e
  if [ -n "${SETUP_PID:-}" ]; then
    kill -- "-$SETUP_PID" "$SETUP_PID" 2>/dev/null
    wait "$SETUP_PID" 2>/dev/null
  fi
  # a signal may arrive while a step's output goes to its log: report on the
  # suite's own stdout/stderr again
  exec 1>&3 2>&4
  if [ "$rc" -ne 0 ] && [ -z "${DONE:-}" ]; then
    if [ -n "${SIGNAL:-}" ]; then
      fail "suite interrupted by SIG$SIGNAL (exit $rc)"
    else
      fail "suite aborted (exit $rc)" "${ABORTED_AT:-}"
    fi
  fi
  mkdir -p "$XD/logs"
  if lab_ns_pid >/dev/null 2>&1; then
    say ""
    say "cleanup: removing the suite's containers, volumes and images in the lab"
    local rt left
    # plain lab_run: podman's default runtime does not matter for removal
    for _ in 1 2; do
      lab_run podman rm -f -t 0 counter >>"$XD/logs/cleanup.log" 2>&1
      for rt in $E2E_RUNTIMES; do rm_images "$rt"; done
      lab_run podman volume rm -f labvol >>"$XD/logs/cleanup.log" 2>&1
      if left=$(lab_run podman ps -a --format '{{.Names}}' 2>&1 && lab_run podman volume ls -q 2>&1); then
        left=$(printf '%s\n' "$left" | grep -E '^(counter|labvol)$' | tr '\n' ' ')
      else
        left="(podman failed: $left)"
      fi
      [ -n "$left" ] || break
      sleep 2
    done
    if [ -n "$left" ]; then
      fail "cleanup: left in the lab: $left" "(see $XD/logs/cleanup.log)"
    fi
    if [ "${E2E_KEEP_LAB:-0}" = 1 ]; then
      say "cleanup: E2E_KEEP_LAB=1, the lab namespace stays up (end it: bash tests/e2e/lab.sh umount)"
    else
      lab_umount
      say "cleanup: lab namespace ended (its mounts are gone with it)"
    fi
  fi
  summary
  [ "$FAILED" -eq 0 ] || exit 1
  exit "$rc"
}

summary() {
  local line
  say ""
  say "===== side by side (counter: checkpointed value -> values seen after restore) ====="
  # shellcheck disable=SC2059 # the format is a constant
  say "$(printf "$ROWFMT" rt comp source build check wrongrt syscheck restore counter)"
  for line in "${TABLE[@]}"; do say "$line"; done
  say ""
  for line in "${NOTES[@]}"; do say "note: $line"; done
  for line in "${FAILURES[@]}"; do say "failed: $line"; done
  say "logs of every step: $XD/logs/ (host), $LXD/logs/ (lab); took $(( $(date +%s) - T_START )) s"
  [ "$SKIPPED" -eq 0 ] || say "$SKIPPED skipped (a step they depend on failed)"
  say "$PASSED passed, $FAILED failed"
}

main() {
  [ "$(id -u)" = 0 ] || { say "tests/e2e/run.sh needs root (it runs CRIU and Podman in the lab)"; exit 2; }
  exec 3>&1 4>&2
  trap cleanup EXIT
  trap 'SIGNAL=INT; exit 130' INT
  trap 'SIGNAL=TERM; exit 143' TERM
  trap 'ABORTED_AT="at line $LINENO: $BASH_COMMAND"' ERR

  say "===== host: what must stay untouched (default store, network links) ====="
  host_snapshot > "${TMPDIR:-/tmp}/ckptimg-e2e-host.before"
  say "$(grep -c . "${TMPDIR:-/tmp}/ckptimg-e2e-host.before") entries recorded"

  rm -rf "$XD"
  mkdir -p "$XD/logs" "$XD/bin"
  local rt
  for rt in runc crun $E2E_RUNTIMES; do
    printf '[engine]\nruntime = "%s"\n' "$rt" > "$XD/rt-$rt.conf"
  done

  # the lab setup (network and disk bound) runs while cargo builds (CPU bound)
  say "===== lab: $LAB_ROOT (exchange dir $LAB_XFER = /xfer, pidfile $LAB_PIDFILE), setup in the background ====="
  local t0=$SECONDS setup_log=$XD/logs/lab-setup.log
  setsid -w bash "$HERE/lab.sh" setup >"$setup_log" 2>&1 &
  SETUP_PID=$!

  local bin=${CHECKPOINTCTL_IMAGE:-}
  if [ -z "$bin" ]; then
    say "===== cargo build --release ====="
    (cd "$TOP" && cargo build --release)
    bin=${CARGO_TARGET_DIR:-$TOP/target}/release/checkpointctl-image
    say "built in $((SECONDS - t0)) s"
  fi
  install -m 0755 "$bin" "$XD/bin/checkpointctl-image"

  local setup_rc=0
  wait "$SETUP_PID" || setup_rc=$?
  SETUP_PID=""
  if [ "$setup_rc" -ne 0 ]; then
    say "lab setup failed (exit $setup_rc); last lines of $setup_log:"
    tail -n 40 "$setup_log" | sed 's/^/      | /'
    fail "lab setup (tests/e2e/lab.sh setup)" "exit $setup_rc"
    exit 1
  fi
  say "lab ready; setup and build took $((SECONDS - t0)) s together (setup log: $setup_log)"

  say ""
  say "===== lab versions ====="
  # shellcheck disable=SC2016 # expanded inside the lab
  lab_run sh -c 'echo "kernel $(uname -r) | $(podman --version) | criu $(criu --version | head -n 1) | $(runc --version | head -n 1) | $(crun --version | head -n 1) | checkpointctl $(dpkg-query -W -f "\${Version}" checkpointctl)"'
  RT=runc
  say "checkpointctl-image: $(L "$CPI" version 2>&1 | head -n 1)"
  step "lab: criu check" lx criu check || true
  step "checkpointctl-image --plugin-description prints one line and exits 42" plugin_description || true
  plugin_probe

  for rt in $E2E_RUNTIMES; do
    run_runtime "$rt"
  done
  step "host: default store and network links unchanged" host_untouched || true
  DONE=1
}

# (sourcing this file only defines the functions, e.g. to debug one step)
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
