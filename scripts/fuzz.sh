#!/usr/bin/env bash
# Runs every fuzz target (`func Fuzz…` in a *_test.go) for FUZZTIME each, one
# after the other, and prints the executions each one made.
#
#   FUZZTIME=30s (default) or a count such as 1000000x
#   FUZZ_PARALLEL=1 (default): fuzzing workers per target
#   scripts/fuzz.sh [NAME_REGEXP]   only the targets whose name matches
#
# A failing input is written by `go test` to the package's testdata/fuzz/<Target>/:
# fix the code, and commit that file: it runs as a regression seed in every
# `go test` from then on. Exits 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
parallel=${FUZZ_PARALLEL:-1}
only=${1:-.}

targets=$(grep -rHo --include='*_test.go' --exclude-dir=node_modules --exclude-dir=testdata --exclude-dir=.data \
  '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)$#\1 \2#' | sort)

summary=() failed=0
while read -r dir name; do
  [ -n "$name" ] || continue
  [[ $name =~ $only ]] || continue
  printf '\033[1m==> %s %s (%s)\033[0m\n' "$dir" "$name" "$fuzztime" >&2
  log=$(mktemp)
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$dir" 2>&1 | tee "$log" >&2; then
    status=ok
  else
    status=FAIL failed=1
  fi
  # go test prints "fuzz: elapsed: 30s, execs: 123456 (4115/sec), ..." as it goes; the last one is the total.
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  rm -f "$log"
  summary+=("$(printf '%-4s %-22s %12s execs  %s' "$status" "$name" "${execs:-?}" "$dir")")
done <<<"$targets"

printf '\n' >&2
printf '%s\n' "${summary[@]}"
exit "$failed"
