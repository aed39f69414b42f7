#!/usr/bin/env bash
# A release binary to ship, with its debug info in a separate file beside it.
#
#   scripts/release.sh [OUT_DIR]      # default: dist/
#
# Builds the `profiling` profile (the release build with line tables), then splits it with
# objcopy (binutils): OUT_DIR/tierscore without debug info or symbols (about 36 MB, like
# `cargo build --release`) and OUT_DIR/tierscore.debug holding both, linked from the
# binary by a GNU debuglink. Keep the .debug file beside the binary (or in
# /usr/lib/debug/.build-id/) and gdb, perf and addr2line find file and line for every address;
# ship the binary alone where no one will debug it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist}
cargo build --profile profiling --locked
TARGET=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"
cp "$TARGET/profiling/tierscore" "$OUT/tierscore.full"
objcopy --only-keep-debug "$OUT/tierscore.full" "$OUT/tierscore.debug"
objcopy --strip-all --add-gnu-debuglink="$OUT/tierscore.debug" "$OUT/tierscore.full" "$OUT/tierscore"
rm "$OUT/tierscore.full"
ls -l "$OUT/tierscore" "$OUT/tierscore.debug"
"$OUT/tierscore" --version
