#!/bin/sh
# Creates or upgrades Temporal's two databases on PostgreSQL (persistence and
# SQL visibility) with temporal-sql-tool, idempotently. docker-compose.yml runs
# it in the temporalio/admin-tools image; test:cluster runs the same script
# with the tool it built (TEMPORAL_SQL_TOOL) and the module's schema files
# (TEMPORAL_SCHEMA_DIR).
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS names the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
tool=${TEMPORAL_SQL_TOOL:-temporal-sql-tool}
schema=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}/postgresql/v12

sql() {
  SQL_PASSWORD="$POSTGRES_PWD" "$tool" --plugin "${DB:-postgres12}" --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" "$@"
}

for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db=${pair%%:*}
  dir=${pair#*:}
  # create-database fails when the database exists; setup-schema -v 0.0 is a no-op on a set-up one.
  sql --db "$db" create-database >/dev/null 2>&1 || true
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$schema/$dir/versioned"
done
