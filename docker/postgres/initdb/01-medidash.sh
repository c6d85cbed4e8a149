#!/bin/bash
# First start of the compose PostgreSQL: Airflow's metadata database and MediDash's warehouse,
# each with its own roles (the same layout medidash.warehouse sets up on the embedded server).
# Passwords come from the environment (.env); the official image runs this once, as postgres.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v owner_password="$MEDIDASH_OWNER_PASSWORD" \
    -v dashboard_password="$MEDIDASH_DASHBOARD_PASSWORD" <<'SQL'
create role airflow with login password :'airflow_password';
create database airflow owner airflow;

create role medidash_owner with login password :'owner_password';
create role medidash_dashboard with login password :'dashboard_password';
alter role medidash_dashboard set default_transaction_read_only = on;
alter role medidash_dashboard set statement_timeout = '10s';
create database medidash owner medidash_owner;
revoke all on database medidash from public;
grant connect on database medidash to medidash_owner, medidash_dashboard;
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname medidash <<'SQL'
revoke create on schema public from public;
create extension if not exists pg_trgm;
create schema landing authorization medidash_owner;
create schema staging authorization medidash_owner;
create schema marts authorization medidash_owner;
create schema ops authorization medidash_owner;
grant usage on schema marts, ops to medidash_dashboard;
alter default privileges for role medidash_owner in schema marts, ops
    grant select on tables to medidash_dashboard;
SQL
