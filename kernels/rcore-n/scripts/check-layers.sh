#!/bin/sh
# The kernel's layers, top first (see src/main.rs): a module may use only
# modules of layers below its own. Prints every use of a module at its own
# layer or above (`crate::NAME` in any file of the module, or `super::` at
# a module's top, which names the crate root) and fails if there is one.
set -eu
cd "$(dirname "$0")/../src"
LAYERS='boot
run
syscall
task
fs
net
mm
sync timer trap
hart console programs
board'
layer_of() {
    echo "$LAYERS" | awk -v m="$1" '{ for (i = 1; i <= NF; i++) if ($i == m) print NR }'
}
bad=0
for path in *; do
    [ "$path" = main.rs ] || [ "$path" = linker.ld ] && continue
    module=${path%.rs}
    mine=$(layer_of "$module")
    if [ -z "$mine" ]; then
        echo "module $module is in no layer"
        bad=1
        continue
    fi
    top=$path
    [ -d "$path" ] && top=$path/mod.rs
    if grep -n 'super::' "$top"; then
        echo "  ^ $module names the crate root as super::"
        bad=1
    fi
    for used in $(grep -rhoE 'crate::[a-z_]+' "$path" | sed 's/crate:://' | sort -u); do
        [ "$used" = "$module" ] && continue
        theirs=$(layer_of "$used")
        if [ -z "$theirs" ] || [ "$theirs" -le "$mine" ]; then
            echo "$module (layer $mine) uses $used (layer ${theirs:-none}):"
            grep -rnE "crate::$used\b" "$path" | sed 's/^/    /'
            bad=1
        fi
    done
done
[ $bad -eq 0 ] && echo "layers: every module uses only modules below it"
exit $bad
