#!/bin/bash
# Tests the kubelet wrapper's logic against a temporary checkpoint directory, with a fake
# checkpointctl-image that records its arguments (no store, no root, no podman needed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
wrapper=$here/checkpointctl-image-kubelet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export CHECKPOINT_DIR=$tmp/checkpoints STATE_DIR=$tmp/state CHECKPOINTCTL_IMAGE=$tmp/fake
export SETTLE_SECONDS=5 DEST_PREFIX='containers-storage:[vfs@/x/root+/x/run]'
mkdir -p "$CHECKPOINT_DIR"
log=$tmp/calls

# The fake binary logs "build ARGS…" and fails for archives whose content is "bad".
cat >"$tmp/fake" <<FAKE
#!/bin/bash
echo "\$*" >>"$log"
[ "\$(cat "\${@: -2:1}")" != bad ]
FAKE
chmod +x "$tmp/fake"

fail() { echo "FAIL: $*" >&2; exit 1; }
old() { touch -d '-1 minute' "$1"; }

a1=$CHECKPOINT_DIR/checkpoint-counters_default-counter-2026-11-22T05:34:47Z.tar
a2=$CHECKPOINT_DIR/checkpoint-web-7d9f_prod-nginx-2026-11-22T06:00:01+01:00.tar
a3=$CHECKPOINT_DIR/checkpoint-fresh_default-c-2026-11-22T07:00:00Z.tar    # still being written
a4=$CHECKPOINT_DIR/checkpoint-broken_default-c-2026-11-22T08:00:00.123Z.tar # build fails
a5=$CHECKPOINT_DIR/not-a-checkpoint.tar
a6=$CHECKPOINT_DIR/checkpoint-noname.tar
for f in "$a1" "$a2" "$a5" "$a6"; do echo ok >"$f"; old "$f"; done
echo ok >"$a3"
echo bad >"$a4"; old "$a4"

rc=0
"$wrapper" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "exit $rc with a failed conversion, want 1"

expect1="build $a1 containers-storage:[vfs@/x/root+/x/run]localhost/checkpoint-counters_default-counter:2026-11-22T05-34-47Z"
expect2="build $a2 containers-storage:[vfs@/x/root+/x/run]localhost/checkpoint-web-7d9f_prod-nginx:2026-11-22T06-00-01-01-00"
expect4="build $a4 containers-storage:[vfs@/x/root+/x/run]localhost/checkpoint-broken_default-c:2026-11-22T08-00-00.123Z"
grep -qxF "$expect1" "$log" || fail "a1 not converted as expected: $(cat "$log")"
grep -qxF "$expect2" "$log" || fail "a2 not converted as expected: $(cat "$log")"
grep -qxF "$expect4" "$log" || fail "a4 not attempted: $(cat "$log")"
grep -q fresh "$log" && fail "an archive still being written was converted"
grep -q -e not-a-checkpoint -e noname "$log" && fail "a non-kubelet file was converted"
grep -q "checkpoint-noname.tar: not named" "$tmp/err" || fail "no message for a badly named archive"
[ "$(cat "$STATE_DIR/${a1##*/}.done")" = "localhost/checkpoint-counters_default-counter:2026-11-22T05-34-47Z" ] ||
    fail "no stamp for a1"
[ ! -e "$STATE_DIR/${a4##*/}.done" ] || fail "a failed conversion was stamped"
[ "$(stat -c %a "$STATE_DIR")" = 700 ] || fail "state dir is not private"

# Second run: nothing new is converted again; the fixed archive and the settled one are.
: >"$log"
echo ok >"$a4"; old "$a4"; old "$a3"
"$wrapper" >/dev/null 2>&1 || fail "second run failed"
[ "$(wc -l <"$log")" = 2 ] || fail "second run converted $(wc -l <"$log") archives, want 2: $(cat "$log")"
grep -q fresh "$log" || fail "settled archive not converted"
grep -q broken "$log" || fail "failed archive not retried"

# Third run: idempotent.
: >"$log"
"$wrapper" >/dev/null 2>&1 || fail "third run failed"
[ ! -s "$log" ] || fail "third run converted again: $(cat "$log")"

# An empty or missing directory is not an error.
rm -rf "$CHECKPOINT_DIR"
"$wrapper" >/dev/null || fail "missing checkpoint dir is an error"

echo "contrib/kubelet wrapper: ok"
