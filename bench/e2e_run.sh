#!/bin/sh
# usage: e2e.sh CODE_DIR LANDING WORKDIR : `insights run --backfill` from an empty warehouse
code=$1; landing=$2; wd=$3
rm -rf "$wd"; mkdir -p "$wd"
cd "$code" && INSIGHTS_LANDING_DIR=$landing INSIGHTS_WAREHOUSE=$wd/warehouse.duckdb \
  DAGSTER_HOME=$wd/dagster_home INSIGHTS_SERVING_DB=$wd/serving.duckdb \
  INSIGHTS_REPORTS_DIR=$wd/reports PYTHONPATH=$code \
  python -m orchestration run --backfill
