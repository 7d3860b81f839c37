#!/bin/sh
# Builds the Rust twins of the example contracts (sdk/rust/examples/<name>, docs/EXAMPLES.md)
# with `tosvm build --all` into sdk/rust/examples/build/:
#   <name>.so    TBPF module     <name>.wasm  wasm module
# for hello, counter, token, router, vault.
#
# Usage: sdk/rust/build.sh           rebuild the committed modules
#        sdk/rust/build.sh --check   rebuild into a temporary directory and fail, naming the
#                                    file, if a committed module differs (only warn when
#                                    rustc is not the version that built them)
#        TOSVM=path sdk/rust/build.sh [--check]   use a built tosvm instead of cargo run
#
# The committed modules come from Debian's rustc-web 1.96.0 (LLVM 22) with
#   apt-get install -y --no-install-recommends rustc-web cargo-web rust-web-src \
#       libstd-rust-web-dev-bpf llvm-22 lld
# With --check, a machine without them skips the check and says why (exit 0): every test
# still runs from the committed modules.
set -eu

expected_rustc="1.96.0"
rust=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$rust/../.." && pwd)
examples="$rust/examples"
committed="$examples/build"

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

missing=""
[ -x /usr/bin/rustc ] || missing="$missing rustc-web"
[ -x /usr/bin/cargo ] || missing="$missing cargo-web"
if [ -x /usr/bin/rustc ]; then
    llvm=$(/usr/bin/rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
    sysroot=$(/usr/bin/rustc --print sysroot)
    [ -d "$sysroot/lib/rustlib/bpfel-unknown-none/lib" ] || missing="$missing libstd-rust-web-dev-bpf"
    [ -d "$sysroot/lib/rustlib/src/rust/library/core" ] || missing="$missing rust-web-src"
    command -v "llc-$llvm" >/dev/null 2>&1 || [ -x "/usr/lib/llvm-$llvm/bin/llc" ] || missing="$missing llvm-$llvm"
fi
command -v wasm-ld >/dev/null 2>&1 || missing="$missing lld"
if [ -n "$missing" ]; then
    reason="Debian packages missing:$missing (apt-get install -y --no-install-recommends$missing)"
    if [ "$check" = 1 ]; then
        echo "sdk/rust/build.sh --check: skipped: $reason"
        exit 0
    fi
    echo "sdk/rust/build.sh: $reason" >&2
    exit 1
fi
version=$(/usr/bin/rustc -vV | sed -n 's/^release: //p')
same_version=1
if [ "$version" != "$expected_rustc" ]; then
    same_version=0
    echo "sdk/rust/build.sh: warning: committed modules come from rustc-web $expected_rustc; found $version" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
if [ "$check" = 1 ]; then out="$work/out"; else out="$committed"; fi
mkdir -p "$out"

if [ -n "${TOSVM:-}" ]; then
    tosvm() { "$TOSVM" "$@"; }
else
    (cd "$root" && cargo build -q -p tos-cli --bin tosvm)
    tosvm() { (cd "$root" && cargo run -q -p tos-cli --bin tosvm -- "$@"); }
fi

for name in hello counter token router vault; do
    tosvm build --all -p "$name" --out-dir "$out" "$examples" >/dev/null
    chmod 644 "$out/$name.so" "$out/$name.wasm"
done

if [ "$check" = 1 ]; then
    status=0
    for f in "$out"/*; do
        base=$(basename "$f")
        if [ ! -f "$committed/$base" ]; then
            echo "sdk/rust/build.sh --check: sdk/rust/examples/build/$base is missing" >&2
            status=1
        elif ! cmp -s "$f" "$committed/$base"; then
            echo "sdk/rust/build.sh --check: sdk/rust/examples/build/$base differs from a fresh build" >&2
            status=1
        fi
    done
    for f in "$committed"/*; do
        base=$(basename "$f")
        if [ ! -f "$out/$base" ]; then
            echo "sdk/rust/build.sh --check: sdk/rust/examples/build/$base is not produced by the build" >&2
            status=1
        fi
    done
    if [ "$status" != 0 ] && [ "$same_version" = 0 ]; then
        echo "sdk/rust/build.sh --check: warning only: rustc $version is not $expected_rustc, which built the committed modules" >&2
        exit 0
    fi
    if [ "$status" = 0 ]; then
        echo "sdk/rust/build.sh --check: all modules in sdk/rust/examples/build match"
    fi
    exit $status
fi
echo "built: $(cd "$out" && ls | tr '\n' ' ')"
