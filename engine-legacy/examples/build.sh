#!/bin/sh
# Rebuilds the legacy example modules (*.tosl) from their assembly (*.tasm).
# A test (`committed_modules_match_their_assembly`) fails when they drift apart.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for name in hello counter token; do
    cargo run -q -p tos-engine-legacy --example tasm -- asm \
        "$here/$name.tasm" "$here/$name.tosl"
    echo "built $name.tosl"
done
