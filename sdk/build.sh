#!/bin/sh
# Builds the example contracts into sdk/examples/build/:
#   <name>.so    TBPF module (clang -target bpf -mcpu=v2, linked with this workspace's tbpf-link)
#                for hello, counter, token, compute, router, vault, probe
#   <name>.wasm  wasm module (clang --target=wasm32 + wasm-ld) for hello, counter, token,
#                router, vault, probe
#
# Usage: sdk/build.sh           rebuild the committed modules
#        sdk/build.sh --check   rebuild into a temporary directory and fail, naming the
#                               file, if any committed module differs
#        TBPF_LINK=path sdk/build.sh [--check]   use a built tbpf-link binary instead of cargo
#
# The committed modules are built with Debian clang/lld 14 (apt-get install -y clang lld).
# Commands run from sdk/ with relative paths and without debug info, so no host path
# or timestamp reaches the outputs; the same toolchain gives the same bytes.
set -eu

sdk=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$sdk/.." && pwd)
committed="$sdk/examples/build"

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

for tool in clang wasm-ld cmp; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: $tool not found (apt-get install -y clang lld)" >&2; exit 1; }
done
clang_version=$(clang --version | head -n 1)
case "$clang_version" in
    *"clang version 14."*) ;;
    *) echo "build.sh: warning: committed modules come from Debian clang 14; found: $clang_version" >&2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
if [ "$check" = 1 ]; then
    out="$work/out"
else
    out="$committed"
fi
mkdir -p "$out" "$work/obj"

# The linker of this workspace: `cargo run -q -p tos-tbpf-link` (built once here), or
# an already built binary given as TBPF_LINK=/path/to/tbpf-link.
if [ -n "${TBPF_LINK:-}" ]; then
    tbpf_link() { "$TBPF_LINK" "$@"; }
else
    (cd "$root" && cargo build -q -p tos-tbpf-link --bin tbpf-link)
    tbpf_link() {
        (cd "$root" && cargo run -q -p tos-tbpf-link --bin tbpf-link -- "$@")
    }
fi

CFLAGS="-O2 -ffreestanding -std=c11 -Wall -Wextra -Werror -I include"

cd "$sdk"

# TBPF
for name in hello counter token compute router vault probe; do
    clang -target bpf -mcpu=v2 $CFLAGS -c "examples/$name.c" -o "$work/obj/$name.bpf.o"
    tbpf_link -o "$out/$name.so" "$work/obj/$name.bpf.o"
done

# wasm: exports are the entries and hooks of each example (memory is exported by default).
wasm_build() {
    name=$1
    shift
    exports=""
    for e in "$@"; do exports="$exports --export=$e"; done
    clang --target=wasm32 -nostdlib $CFLAGS -c "examples/$name.c" -o "$work/obj/$name.wasm.o"
    wasm-ld --no-entry $exports -o "$out/$name.wasm" "$work/obj/$name.wasm.o"
    chmod 644 "$out/$name.wasm"
}
wasm_build hello entry_0
wasm_build counter hook_0 entry_0 entry_1 entry_2
wasm_build token hook_0 entry_0 entry_1 entry_2 entry_3
wasm_build router entry_0
wasm_build vault entry_0 entry_1 entry_2
wasm_build probe entry_0

if [ "$check" = 1 ]; then
    status=0
    for f in "$out"/*; do
        base=$(basename "$f")
        if [ ! -f "$committed/$base" ]; then
            echo "build.sh --check: sdk/examples/build/$base is missing" >&2
            status=1
        elif ! cmp -s "$f" "$committed/$base"; then
            echo "build.sh --check: sdk/examples/build/$base differs from a fresh build" >&2
            status=1
        fi
    done
    for f in "$committed"/*; do
        base=$(basename "$f")
        if [ ! -f "$out/$base" ]; then
            echo "build.sh --check: sdk/examples/build/$base is not produced by the build" >&2
            status=1
        fi
    done
    if [ "$status" = 0 ]; then
        echo "build.sh --check: all modules in sdk/examples/build match"
    fi
    exit $status
fi
echo "built: $(cd "$out" && ls | tr '\n' ' ')"
