#!/usr/bin/env bash
# ansible-test sanity and units on every supported ansible-core line, each in its own virtualenv.
#
#   tests/tooling/test_matrix.sh                # all of MATRIX below
#   tests/tooling/test_matrix.sh 2.18 2.21      # some of them
#   SKIP_SANITY=1 tests/tooling/test_matrix.sh  # units only (SKIP_UNITS=1: sanity only)
#
# For each line: .venv-matrix-<line>/ with the pinned ansible-core, ansible-test's pip bootstrap installed
# offline (tests/tooling/install_offline_get_pip.py), the collection staged into
# .build/matrix-<line>/ansible_collections/phonefleet/grandstream, then
# `ansible-test sanity --venv` and `ansible-test units --venv --requirements` with that Python.
# Logs go to .build/matrix-<line>.log; a summary table is printed at the end. Exit status: 0 when all passed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD

# line -> "ansible-core pin|python minor". ansible-core 2.20+ needs Python 3.12+.
declare -A PIN=([2.18]=2.18.19 [2.19]=2.19.14 [2.20]=2.20.10 [2.21]=2.21.5)
declare -A PY=([2.18]=3.11 [2.19]=3.11 [2.20]=3.12 [2.21]=3.12)
MATRIX=(2.18 2.19 2.21)

find_python() {
    # An interpreter of the wanted minor version: on PATH, else from pyenv.
    local minor=$1 candidate root
    for candidate in "python$minor" "$(command -v python3 || true)"; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$minor' else 1)" 2>/dev/null; then
            # pyenv shims answer for versions that are not selected: resolve to the real binary.
            "$candidate" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root)
        candidate=$(printf '%s\n' "$root"/versions/"$minor".*/bin/python"$minor" | sort -V | tail -n 1)
        [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    fi
    return 1
}

run_line() {
    local line=$1 pin=${PIN[$1]:-} minor=${PY[$1]:-} python venv stage staged log
    if [ -z "$pin" ]; then
        echo "unknown ansible-core line $line (known: ${!PIN[*]})"
        return 2
    fi
    log="$ROOT/.build/matrix-$line.log"
    mkdir -p "$ROOT/.build"
    : >"$log"
    if ! python=$(find_python "$minor"); then
        echo "no Python $minor found (PATH or pyenv) for ansible-core $pin" | tee -a "$log"
        RESULT[$line]="no python $minor"
        return 1
    fi
    venv="$ROOT/.venv-matrix-$line"
    stage="$ROOT/.build/matrix-$line"
    staged="$stage/ansible_collections/phonefleet/grandstream"
    echo "== ansible-core $pin on $python ($log)"
    if ! { [ -x "$venv/bin/ansible-test" ] && "$venv/bin/python" -c "import ansible.release, sys; sys.exit(ansible.release.__version__ != '$pin')"; }; then
        rm -rf "$venv"
        { "$python" -m venv "$venv" \
            && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "ansible-core==$pin"; } >>"$log" 2>&1 \
            || { RESULT[$line]="venv/pip failed"; return 1; }
    fi
    "$venv/bin/python" tests/tooling/install_offline_get_pip.py >>"$log" 2>&1 || { RESULT[$line]="get-pip failed"; return 1; }
    tests/tooling/stage_collection.sh "$stage" >>"$log" 2>&1 || { RESULT[$line]="stage failed"; return 1; }
    # ansible-test lists the files through git and looks for .git upwards from the collection: without a
    # repository of its own, the stage (inside this repository, under the ignored .build/) would find this
    # repository's .git, whose .gitignore hides every staged file ("All targets skipped").
    git init -q "$staged" >>"$log" 2>&1 || { RESULT[$line]="git init failed"; return 1; }
    local sanity=skipped units=skipped rc=0
    if [ -z "${SKIP_SANITY:-}" ]; then
        echo "-- sanity" >>"$log"
        if (cd "$staged" && "$venv/bin/ansible-test" sanity --venv --python "$minor" --color no) >>"$log" 2>&1 \
            && ! grep -q 'All targets skipped' "$log"; then
            sanity=passed
        else
            sanity=FAILED; rc=1
        fi
    fi
    if [ -z "${SKIP_UNITS:-}" ]; then
        echo "-- units" >>"$log"
        if (cd "$staged" && "$venv/bin/ansible-test" units --venv --requirements --python "$minor" --color no) >>"$log" 2>&1; then
            units=passed
        else
            units=FAILED; rc=1
        fi
    fi
    RESULT[$line]="sanity $sanity, units $units"
    return $rc
}

declare -A RESULT=()
lines=("$@")
[ ${#lines[@]} -eq 0 ] && lines=("${MATRIX[@]}")
status=0
for line in "${lines[@]}"; do
    run_line "$line" || status=1
done
echo
printf '%-6s %-10s %-6s %s\n' line core python result
for line in "${lines[@]}"; do
    printf '%-6s %-10s %-6s %s\n' "$line" "${PIN[$line]:-?}" "${PY[$line]:-?}" "${RESULT[$line]:-not run}"
done
[ $status -eq 0 ] && echo "test_matrix: all passed" || echo "test_matrix: failures above (logs: .build/matrix-<line>.log)"
exit $status
