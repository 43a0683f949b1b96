#!/bin/bash
# Tests restore-if-compatible's handling of check's exit statuses with fake binaries.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Fake checkpointctl-image: exit status and stdout from $FAKE_RC; logs its arguments.
cat >"$tmp/cci" <<'FAKE'
#!/bin/bash
echo "$*" >>"$FAKE_LOG"
case $FAKE_RC in
    0) echo '{"compatible":true,"checks":[{"name":"kernel","verdict":"warn","checkpoint":"6.12","host":"6.1","reason":"host kernel is older"}]}' ;;
    3) echo '{"compatible":false,"checks":[{"name":"arch","verdict":"fail","checkpoint":"arm64","host":"amd64","reason":"architectures differ"}]}' ;;
    *) echo '{"error":"image localhost/x: not found"}' ;;
esac
exit "$FAKE_RC"
FAKE
cat >"$tmp/podman" <<'FAKE'
#!/bin/bash
echo "podman $*" >>"$FAKE_LOG"
[ "$1" = info ] && echo crun
exit 0
FAKE
chmod +x "$tmp/cci" "$tmp/podman"
export CHECKPOINTCTL_IMAGE=$tmp/cci PODMAN=$tmp/podman FAKE_LOG=$tmp/log
script=$here/restore-if-compatible

run() { : >"$FAKE_LOG"; rc=0; "$script" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?; }

FAKE_RC=0 run localhost/x --name c2
[ "$rc" = 0 ] || fail "compatible: exit $rc"
grep -qx "check --format json --engine podman --runtime crun localhost/x" "$FAKE_LOG" || fail "check args: $(cat "$FAKE_LOG")"
grep -qx "podman container restore --name c2 localhost/x" "$FAKE_LOG" || fail "no restore: $(cat "$FAKE_LOG")"
if command -v jq >/dev/null; then grep -q "warning: kernel" "$tmp/err" || fail "warning not shown"; fi

FAKE_RC=3 run localhost/x
[ "$rc" = 3 ] || fail "incompatible: exit $rc"
grep -q "container restore" "$FAKE_LOG" && fail "restored although incompatible"
grep -q "cannot restore" "$tmp/err" || fail "no reason shown"
if command -v jq >/dev/null; then grep -q "arch: architectures differ" "$tmp/err" || fail "failing check not listed"; fi

FAKE_RC=1 run localhost/x
[ "$rc" = 1 ] || fail "check error: exit $rc"
grep -q "container restore" "$FAKE_LOG" && fail "restored although the check failed"
grep -q "not found" "$tmp/err" || fail "error not shown"

RUNTIME=runc FAKE_RC=0 run --engine cri-o localhost/x
[ "$rc" = 0 ] || fail "cri-o compatible: exit $rc"
grep -qx "check --format json --engine cri-o --runtime runc localhost/x" "$FAKE_LOG" || fail "cri-o args: $(cat "$FAKE_LOG")"
grep -q podman "$FAKE_LOG" && fail "podman called for cri-o"
grep -q "^compatible" "$tmp/out" || fail "no compatible message"

echo "contrib/hooks restore-if-compatible: ok"
