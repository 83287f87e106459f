#!/bin/sh
# Build one ArceOS app of ../unikernel and boot it on riscv64 QEMU virt.
# Passes when QEMU exits 0 (sifive_test finisher pass code) and the serial
# output has the app's marker line.
# Usage: scripts/run-qemu-app.sh APP MARKER      e.g. prio-order 'PRIORITY ORDER OK'
set -eu
app=$1 marker=$2
cd "$(dirname "$0")/../unikernel"
cargo build --release -p "$app"
elf=target/riscv64gc-unknown-none-elf/release/$app
llvm-objcopy --strip-all -O binary "$elf" "target/$app.bin"
status=0
timeout 30 qemu-system-riscv64 -machine virt -m 128M -smp 1 -bios default \
  -kernel "target/$app.bin" -nographic -monitor none -serial stdio > "target/$app.out" 2>&1 || status=$?
cat "target/$app.out"
[ "$status" -eq 0 ] || { echo "$app: QEMU exit status $status" >&2; exit 1; }
grep -q "^$marker" "target/$app.out" || { echo "$app: no '$marker' line" >&2; exit 1; }
echo "$app: pass"
