#!/bin/sh
# Run axtask's *own* unit tests and doctests (axtask 0.3.0-preview.3 from
# crates.io, unmodified) with `axsched` replaced by our shim.
#
# `cargo test -p axtask` from our workspace is refused (a registry crate's
# tests need its dev-dependencies and workspace membership), so: copy the
# registry sources into a scratch directory, append `[patch.crates-io]`,
# keep the crate's shipped Cargo.lock (axcpu 0.3.0-preview.8: a fresh
# resolution picks axcpu 0.3.1, which does not build on the host), swap
# axsched 0.3.1 for the shim in it, and test.
#
# Usage: scripts/run-axtask-upstream-tests.sh [extra cargo test args]
# Env: CARGO_TARGET_DIR (optional) to share build output.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
shim="$here/axtask-host/axsched-cops"
cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Make sure the registry copy exists (it does after building axtask-host).
(cd "$here/axtask-host" && ${CARGO:-cargo} fetch -q)
src=$(ls -d "$cargo_home"/registry/src/*/axtask-0.3.0-preview.3 2>/dev/null | head -n 1)
[ -n "$src" ] || { echo "axtask-0.3.0-preview.3 not in $cargo_home/registry/src" >&2; exit 1; }
work=${AXTASK_UPSTREAM_DIR:-$here/target/axtask-upstream}
rm -rf "$work/axtask"
mkdir -p "$work"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$work/target}"
cp -r "$src" "$work/axtask"
cd "$work/axtask"
rm -f Cargo.toml.orig
chmod -R u+w .
printf '\n[workspace]\n\n[patch.crates-io]\naxsched = { path = "%s" }\n' "$shim" >> Cargo.toml
cargo=${CARGO:-cargo}
"$cargo" update -q --offline -p axsched@0.3.1 2>/dev/null || "$cargo" update -q -p axsched@0.3.1
grep -A1 '^name = "axsched"' Cargo.lock | grep -q '0.3.100' || { echo "patch did not take" >&2; exit 1; }
RUSTC_BOOTSTRAP=1 exec "$cargo" test --features multitask,test "$@"
