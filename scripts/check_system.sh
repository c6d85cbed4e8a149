#!/usr/bin/env bash
# Checks the OS-level prerequisites; installs missing ones only through the OS package manager.
#   runtime: Python >= 3.11 with venv, a JDK 17+ (Spark; javac for spark_jobs/java).
#   test:    also Chromium + ChromeDriver (browser tests), docker-compose (compose validation),
#            the PostgreSQL JDBC driver (Spark cluster tests).
set -euo pipefail
mode=${1:-runtime}
missing=()

py_ok=$(python3 -c 'import sys, venv; print(int(sys.version_info >= (3, 11)))' 2>/dev/null || echo 0)
[ "$py_ok" = 1 ] || missing+=("python3 (>= 3.11, with venv): apt-get install python3 python3-venv")

java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
javac_major=$(javac -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p' | head -1)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ] || [ -z "$javac_major" ] || [ "$javac_major" -lt 17 ]; then
  # the JDK: Spark runs on it, and javac builds MediDash's event writer (spark_jobs/java)
  missing+=("openjdk-17-jdk-headless")
fi

if [ "$mode" = test ]; then
  command -v chromium >/dev/null || missing+=("chromium")
  command -v chromedriver >/dev/null || missing+=("chromium-driver")
  command -v docker-compose >/dev/null || missing+=("docker-compose")
  [ -f /usr/share/java/postgresql.jar ] || missing+=("libpostgresql-jdbc-java")
fi

[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=()
for m in "${missing[@]}"; do
  case "$m" in python3*) echo "MediDash needs $m" >&2; exit 1 ;; *) pkgs+=("$m") ;; esac
done

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
fi
if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
  echo "Installing OS packages: ${pkgs[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
else
  echo "MediDash needs these OS packages, and cannot install them here (no apt-get or no root):" >&2
  printf '  %s\n' "${pkgs[@]}" >&2
  echo "Install them with your package manager, then run make again." >&2
  exit 1
fi
