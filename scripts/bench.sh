#!/usr/bin/env bash
# make bench: run the end-to-end benchmarks once (each figure beside its
# reference and the physical limit measured in the same run), then the MARC
# benchmarks if mk/*.mk defines them, and repeat the summary lines at the end.
#
# Knobs (see bench/bench_test.go): BINDERY_BENCH_LOANS, BINDERY_BENCH_NOOP_RECORDS,
# BINDERY_BENCH_CONCURRENCY, BINDERY_BENCH_WINDOW, BINDERY_BENCH_IMPORT_RECORDS
# (Metadata Import file size, default 1000000: with its untimed pre-import of
# half of it, the longest benchmark; lower it on a slow machine),
# BINDERY_BENCH_PUBLISH_RECORDS / BINDERY_BENCH_PUBLISH_ROTATE (General Publishing:
# records, default 1000000, and records per file, default 50000); BENCH_PROFILE=1 also writes a
# CPU profile and prints its top entries.
# Fair admission (bench/fair_test.go): BINDERY_BENCH_FAIR_CHUNKS, BINDERY_BENCH_MIX_RECORDS,
# BINDERY_BENCH_FLEET_WINDOW, BINDERY_BENCH_MIX_PAIRS.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
out=$(mktemp -t bindery-bench.XXXXXX)
prof_dir=$(mktemp -d -t bindery-bench-prof.XXXXXX)
trap 'rm -rf "$out" "$prof_dir"' EXIT

args=(test -run '^$' -bench . -benchtime 1x -count 1 -timeout 45m)
if [ "${BENCH_PROFILE:-}" = 1 ]; then
  args+=(-cpuprofile "$prof_dir/cpu.out" -o "$prof_dir/bench.test")
fi

echo "== spine benchmarks (go test ./bench)"
# Benchmark output streams as it comes; a failure stops here with its status.
"$GO" "${args[@]}" ./bench | tee "$out"

if [ "${BENCH_PROFILE:-}" = 1 ]; then
  echo
  echo "== CPU profile of the benchmark process (engine, worker, asynq; not PostgreSQL or Redis)"
  "$GO" tool pprof -top -nodecount 25 "$prof_dir/bench.test" "$prof_dir/cpu.out" 2>/dev/null | sed -n '1,35p'
fi

marc_out=
marc_status=0
if make -n bench-marc >/dev/null 2>&1; then
  echo
  echo "== make bench-marc"
  marc_out="$prof_dir/marc.txt"
  make --no-print-directory bench-marc | tee "$marc_out" || marc_status=$?
fi

echo
echo "== summary"
# Figure lines: "<name>: <figure> | <limit or reference> ..." at the start of a line.
if ! grep -E '^[A-Za-z][A-Za-z0-9 ()/-]*: [^|]+\|' "$out" | awk '!seen[$0]++'; then
  echo "no summary lines found" >&2
  exit 1
fi
if [ -n "$marc_out" ]; then
  # The MARC table, from its header on.
  awk '/Bindery.*yaz/ {on = 1} on' "$marc_out"
  if [ "$marc_status" != 0 ]; then
    echo "make bench-marc exited with status $marc_status" >&2
    exit "$marc_status"
  fi
fi
