"""MediDash's Spark jobs (step1_ingest, step2_explode, step3_aggregate_load)."""

# Options for every Spark JVM (driver and executors). Spark generates one Java method per
# projection; a wide one (ingest's classify-and-clean of 20-30 CSV fields) passes the JVM's
# 8,000-byte limit for JIT compilation and would run interpreted: measured on a scale-0.1
# Part D file, 28 s with the limit, 17.6 s without it.
JVM_OPTIONS = "-XX:-DontCompileHugeMethods"
