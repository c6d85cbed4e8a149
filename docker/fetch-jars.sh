#!/usr/bin/env bash
# The jars a MediDash Spark process needs beyond pyspark's own, for images to add at build time:
# S3A (hadoop-aws and the AWS SDK v2 bundle that Hadoop release was built against) and the
# PostgreSQL JDBC driver. Every jar is checked against the checksum Maven Central publishes
# beside it; the SDK bundle version is read from hadoop-project's POM of the same Hadoop
# release, so hadoop-aws and the SDK can never drift apart (hadoop-aws 3.4+ needs the SDK v2
# bundle it was compiled against).
#   fetch-jars.sh HADOOP_VERSION POSTGRESQL_JDBC_VERSION [MAVEN_URL]   (into the current folder)
set -euo pipefail

hadoop="$1"
jdbc="$2"
maven="${3:-https://repo1.maven.org/maven2}"

fetch() {
    curl -fsSLO "$1"
    curl -fsSL "$1.sha1" -o sum
    echo "$(cat sum)  $(basename "$1")" | sha1sum -c -
    rm sum
}

fetch "${maven}/org/apache/hadoop/hadoop-aws/${hadoop}/hadoop-aws-${hadoop}.jar"
fetch "${maven}/org/postgresql/postgresql/${jdbc}/postgresql-${jdbc}.jar"
sdk="$(curl -fsSL "${maven}/org/apache/hadoop/hadoop-project/${hadoop}/hadoop-project-${hadoop}.pom" \
    | sed -n 's:.*<aws-java-sdk-v2.version>\(.*\)</aws-java-sdk-v2.version>.*:\1:p')"
test -n "${sdk}"
fetch "${maven}/software/amazon/awssdk/bundle/${sdk}/bundle-${sdk}.jar"
