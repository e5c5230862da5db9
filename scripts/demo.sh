#!/usr/bin/env bash
# make demo: start a server and two workers; import the project's real MARC
# files with Metadata Import (progress, counters, the rejected record and its
# reason); seed demo loans and run Loan Anonymization; publish the catalog
# (General Publishing, full then incremental); export a logical set; show
# capacity; show each job and its report;
# stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=bin/bindery
LOANS=${LOANS:-100000}
export BINDERY_DATABASE_URL=${BINDERY_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bindery_demo?sslmode=disable}
export BINDERY_REDIS_URL=${BINDERY_REDIS_URL:-redis://127.0.0.1:6379/0}
export BINDERY_ADDR=${BINDERY_ADDR:-127.0.0.1:8080}
export BINDERY_SERVER=${BINDERY_SERVER:-http://$BINDERY_ADDR}
LOGS=$(mktemp -d -t bindery-demo.XXXXXX)

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Schema and demo data ($LOANS loans for institution DEMO)"
$BIN migrate up
$BIN seed demo --institution DEMO --loans "$LOANS" --reset

step "An operator token for DEMO (staff tokens run jobs too; operators also see the dashboard)"
BINDERY_TOKEN=$($BIN token create --institution DEMO --role operator --user demo-librarian)
export BINDERY_TOKEN

step "Server on $BINDERY_ADDR and two workers (logs in $LOGS)"
$BIN server >"$LOGS/server.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "$BINDERY_SERVER/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$LOGS/server.log"; exit 1; }
  sleep 0.1
done
$BIN worker --concurrency 4 >"$LOGS/worker1.log" 2>&1 & pids+=($!)
$BIN worker --concurrency 4 >"$LOGS/worker2.log" 2>&1 & pids+=($!)

# Metadata Import of the project's copies of real files (testdata/marc): two
# MARC-8 binary files, a MARCXML file and a damaged file. A second run of the
# demo merges into the records the first one created instead of importing.
for f in jazz_1k.mrc lul_fre_100.mrc concerto_bibs.xml bad_records.mrc; do
  step "bindery job run metadata-import --param profile=vendor-bibs --file testdata/marc/$f --wait"
  id=$($BIN job run metadata-import --param profile=vendor-bibs --file "testdata/marc/$f" --wait)
  $BIN job show "$id"
  echo "-- records not imported (outcome other than success):"
  $BIN job report "$id" | awk 'NR == 1 || ($2 != "success") { print; n++ } END { if (n <= 1) print "(none)" }'
done

step "bindery job run loan-anonymization --wait"
id=$($BIN job run loan-anonymization --wait)

step "bindery job show $id"
$BIN job show "$id"

step "bindery job report $id (first rows)"
$BIN job report "$id" | head -12 || true  # head closes the pipe early

step "bindery job run general-publishing --param profile=discovery --param mode=full --wait"
id=$($BIN job run general-publishing --param profile=discovery --param mode=full --wait)
$BIN job show "$id"
step "bindery job files $id (in /var/tmp/bindery/publishing/discovery; see docs/publishing.md)"
$BIN job files "$id"
step "bindery job run general-publishing --param profile=discovery --wait (incremental: nothing changed since, said so)"
$BIN job run general-publishing --param profile=discovery --wait || true

# A logical set is a saved query, run again whenever a job starts on it.
name="Jazz $(date +%Y%m%d-%H%M%S)"
step "bindery set create --name \"$name\" --query '650 \$a contains \"Jazz\"'"
set_id=$($BIN set create --name "$name" --query '650 $a contains "Jazz"' --output json |
  sed -n 's/^  *"id": *\([0-9][0-9]*\).*/\1/p' | head -1)
$BIN set show "$set_id"
step "bindery job run export-bib-records --param set=$set_id --param format=marcxml --wait"
id=$($BIN job run export-bib-records --param set="$set_id" --param format=marcxml --wait)
$BIN job files "$id"

step "bindery capacity (fair shares, peak caps, bulk admission rate; docs/scheduling.md)"
$BIN capacity

echo
echo "Queue dashboard: run '$BIN server' and open $BINDERY_SERVER/monitoring (user: anything, password: an operator token)."
