#!/bin/bash
# Smoke test of the installed Debian package: the exact file list `dpkg -L` reports, the
# binary runs from its libexec path, the man pages render.
# Usage: bash tests/package.sh   (after `apt-get install ./target/deb/checkpointctl-image_*.deb`)
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
pkg=checkpointctl-image
bin=/usr/libexec/checkpointctl/checkpointctl-image

expected="/usr/libexec/checkpointctl/checkpointctl-image
/usr/share/doc/checkpointctl-image/changelog.Debian.gz
/usr/share/doc/checkpointctl-image/copyright
/usr/share/man/man1/checkpointctl-image-build.1.gz
/usr/share/man/man1/checkpointctl-image-check.1.gz
/usr/share/man/man1/checkpointctl-image-inspect.1.gz
/usr/share/man/man1/checkpointctl-image-version.1.gz
/usr/share/man/man1/checkpointctl-image.1.gz"
actual=$(dpkg -L "$pkg" | while read -r f; do [ -d "$f" ] || echo "$f"; done | sort)
if [ "$actual" != "$expected" ]; then
    diff -u <(echo "$expected") <(echo "$actual") >&2 || true
    fail "installed file list differs"
fi
[ "$(stat -c %a "$bin")" = 755 ] || fail "$bin is not mode 755"

"$bin" --version | grep -qx "checkpointctl-image $(dpkg-query -W -f '${Version}' "$pkg" | sed 's/-[^-]*$//')" ||
    fail "--version does not match the package version"
"$bin" version --format json | grep -q '"api_version"' || fail "version --format json"
rc=0; "$bin" --plugin-description >/dev/null || rc=$?
[ "$rc" = 42 ] || fail "--plugin-description exit $rc"
for page in checkpointctl-image checkpointctl-image-build checkpointctl-image-check \
    checkpointctl-image-inspect checkpointctl-image-version; do
    man -P cat "$page" 2>/dev/null | grep -q "^NAME" || fail "man $page does not render"
done
echo "package smoke test: ok"
