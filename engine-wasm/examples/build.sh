#!/bin/sh
# Assembles every WAT source of engine-wasm (the example contracts in examples/ and the test
# modules in tests/fixtures/) into the .wasm binary committed beside it.
#
#   examples/build.sh           rewrite the committed binaries
#   examples/build.sh --check   fail if a committed binary differs from what its source
#                               assembles to
#
# Needs `wat2wasm` from WABT (Debian: `apt-get install wabt`); the output carries no name
# section, so it depends only on the source. Where wat2wasm is absent, --check says so and
# passes: the crate's unit test `committed_binaries_match_their_wat_sources` checks the same
# thing without it (each binary compiles to the same machine code as its source).
set -eu
cd "$(dirname "$0")/.."
check=false
case "${1:-}" in
    --check) check=true ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
if ! command -v wat2wasm >/dev/null; then
    if $check; then
        echo "engine-wasm/examples/build.sh: wat2wasm not found; skipping the byte check" \
             "(cargo test -p tos-engine-wasm checks the binaries)"
        exit 0
    fi
    echo "engine-wasm/examples/build.sh: wat2wasm not found (apt-get install wabt)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stale=0
for wat in examples/*.wat tests/fixtures/*.wat; do
    wasm="${wat%.wat}.wasm"
    # Threads are enabled only so the fixture proving that the engine refuses a shared memory
    # can be built (SIMD is on by default in wat2wasm, for the same kind of fixture).
    wat2wasm --enable-threads "$wat" -o "$tmp/out.wasm"
    if $check; then
        if ! cmp -s "$tmp/out.wasm" "$wasm"; then
            echo "stale: $wasm (run engine-wasm/examples/build.sh)" >&2
            stale=1
        fi
    else
        cp "$tmp/out.wasm" "$wasm"
        echo "assembled $wasm"
    fi
done
exit $stale
