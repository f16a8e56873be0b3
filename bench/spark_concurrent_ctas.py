"""Concurrent `CREATE TABLE AS` from several Python threads on one local Spark session,
as dbt-spark's session method issues them (a builder with the profile's settings and
`getOrCreate()` before each statement): a try at the race that once planned a statement
without its session (docs/scale_out.md, "One dbt thread with the session method").

    python bench/spark_concurrent_ctas.py [ITERATIONS] [THREADS] [WAREHOUSE_DIR]

Prints the number of failed statements and the first failures.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time

from pyspark.sql import SparkSession


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    folder = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="spark-race-")
    conf = {"spark.sql.session.timeZone": "UTC", "spark.sql.timestampType": "TIMESTAMP_NTZ",
            "spark.sql.sources.partitionOverwriteMode": "dynamic",
            "spark.sql.shuffle.partitions": "1", "spark.sql.warehouse.dir": folder,
            "spark.ui.enabled": "false", "spark.sql.codegen.wholeStage": "false",
            "spark.sql.adaptive.enabled": "false"}

    def session() -> SparkSession:
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in conf.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()

    session().sparkContext.setLogLevel("ERROR")
    failures: list[tuple[int, int, str]] = []

    def work(i: int) -> None:
        for j in range(iterations):
            try:
                session().sql(f"DROP TABLE IF EXISTS t_{i}")
                session().sql(f"CREATE TABLE t_{i} USING parquet AS "
                              "SELECT id, id * 2 AS x FROM range(10)")
                session().sql(f"SELECT count(*) FROM t_{i}").collect()
            except Exception as exc:  # counted and shown
                failures.append((i, j, str(exc)[:300]))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    sys.stdout.write(f"threads {threads}, iterations {iterations}, failed statements "
                     f"{len(failures)}, {time.perf_counter() - t0:.1f} s\n")
    for failure in failures[:3]:
        sys.stdout.write(f"{failure}\n")


if __name__ == "__main__":
    main()
