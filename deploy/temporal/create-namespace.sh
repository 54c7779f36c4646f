#!/bin/sh
# Waits for the Temporal cluster to be healthy, then creates the namespace if
# it does not exist. The `temporal` CLI reads the same TEMPORAL_ADDRESS,
# TEMPORAL_NAMESPACE and TEMPORAL_TLS_* variables as the app.
set -eu
namespace=${TEMPORAL_NAMESPACE:-default}
cli=${TEMPORAL_CLI:-temporal}
tries=0
until "$cli" operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge "${TEMPORAL_HEALTH_TRIES:-120}" ]; then
    "$cli" operator cluster health
    exit 1
  fi
  sleep 1
done
"$cli" operator namespace describe -n "$namespace" >/dev/null 2>&1 ||
  "$cli" operator namespace create -n "$namespace" --retention "${TEMPORAL_RETENTION:-72h}"
