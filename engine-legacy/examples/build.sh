#!/bin/sh
# Rebuilds the legacy example modules (*.tosl) from their assembly (*.tasm).
#   examples/build.sh           rewrite the committed modules
#   examples/build.sh --check   fail (naming the file) if a committed module differs
# The test `committed_modules_match_their_assembly` checks the same thing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=false
case "${1:-}" in
    --check) check=true ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stale=0
for name in hello counter token router vault probe; do
    cargo run -q -p tos-engine-legacy --example tasm -- asm "$here/$name.tasm" "$tmp/$name.tosl"
    if $check; then
        if ! cmp -s "$tmp/$name.tosl" "$here/$name.tosl"; then
            echo "stale: engine-legacy/examples/$name.tosl (run engine-legacy/examples/build.sh)" >&2
            stale=1
        fi
    else
        cp "$tmp/$name.tosl" "$here/$name.tosl"
        echo "built $name.tosl"
    fi
done
exit $stale
