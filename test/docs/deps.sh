#!/bin/sh
# Usage: test/docs/deps.sh SOURCE_DIR
# The README's table of packages names, group by group, what
# scripts/deps.sh installs: for every group deps.sh defines (a
# <group>_pkgs= line), the README has a row "| <group> | ... | packages |"
# listing the same packages as `scripts/deps.sh list <group>`.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 SOURCE_DIR" >&2; exit 2; }
src=$(cd "$1" && pwd)

groups=$(sed -n 's/^\([a-z0-9]*\)_pkgs=.*/\1/p' "$src/scripts/deps.sh")
[ -n "$groups" ] || { echo "FAIL: no <group>_pkgs= line in scripts/deps.sh" >&2; exit 1; }
status=0
for g in $groups; do
    row=$(grep "^| $g | " "$src/README.md") || {
        echo "FAIL: README.md has no row '| $g | ...' in its table of packages" >&2
        status=1
        continue
    }
    readme=$(printf '%s\n' "$row" | awk -F'|' '{ print $4 }' | tr ' ' '\n' | grep . | sort)
    script=$(sh "$src/scripts/deps.sh" list "$g" | sort)
    if [ "$readme" != "$script" ]; then
        echo "FAIL: group $g: README.md lists" $readme "; scripts/deps.sh installs" $script >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "README.md lists what scripts/deps.sh installs:" $groups
exit $status
