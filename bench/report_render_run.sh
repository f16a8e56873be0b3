#!/bin/sh
# One report render of a copy of a built warehouse with the code of one checkout, for A/B
# timing with farm-bench (the copy keeps the original untouched and both sides alike).
# usage: sh bench/report_render_run.sh CODE WAREHOUSE TAG KIND   (KIND: daily | weekly)
set -e
cp "$2" "/tmp/rr_$3.duckdb"
rm -rf "/tmp/rr_out_$3"
cd "$1"
PYTHONPATH="$1" exec python bench/report_render_cpu.py "/tmp/rr_$3.duckdb" "/tmp/rr_out_$3" "$4"
