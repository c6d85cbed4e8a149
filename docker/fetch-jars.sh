#!/usr/bin/env bash
# The jars a MediDash Spark process needs beyond pyspark's own, added by both images that run
# one (docker/spark: the executors; docker/airflow: the driver) into pyspark's jars/ folder:
# S3A (hadoop-aws and the AWS SDK v2 bundle that Hadoop release was built against) and the
# PostgreSQL JDBC driver. The versions live here only, so the driver and the executors cannot
# drift apart. Every jar is checked against the checksum Maven Central serves beside it; the SDK
# bundle version is read from hadoop-project's POM of the same Hadoop release (hadoop-aws 3.4+
# needs the SDK v2 bundle it was compiled against).
#   fetch-jars.sh FOLDER        (MAVEN=URL for a mirror of Maven Central)
set -euo pipefail

# the Hadoop of the pinned pyspark (tests/integration/test_dockerfiles.py checks it)
HADOOP_VERSION=3.5.0
POSTGRESQL_JDBC_VERSION=42.7.8
maven="${MAVEN:-https://repo1.maven.org/maven2}"

cd "$1"

fetch() {
    curl -fsSLO "$1"
    curl -fsSL "$1.sha1" -o sum
    echo "$(cat sum)  $(basename "$1")" | sha1sum -c -
    rm sum
}

fetch "${maven}/org/apache/hadoop/hadoop-aws/${HADOOP_VERSION}/hadoop-aws-${HADOOP_VERSION}.jar"
fetch "${maven}/org/postgresql/postgresql/${POSTGRESQL_JDBC_VERSION}/postgresql-${POSTGRESQL_JDBC_VERSION}.jar"
pom="${maven}/org/apache/hadoop/hadoop-project/${HADOOP_VERSION}/hadoop-project-${HADOOP_VERSION}.pom"
sdk="$(curl -fsSL "${pom}" | sed -n 's:.*<aws-java-sdk-v2.version>\(.*\)</aws-java-sdk-v2.version>.*:\1:p')"
test -n "${sdk}"
fetch "${maven}/software/amazon/awssdk/bundle/${sdk}/bundle-${sdk}.jar"
