#!/bin/sh
# Creates forensics_app, the database role the web, worker and beat services log in as.
#
# Run by the postgres image once, when the db service initialises its volume
# (mounted into /docker-entrypoint-initdb.d), as the owner POSTGRES_USER. On a
# volume initialised before this script existed, run it once by hand:
#   docker compose up -d db && docker compose exec db /docker-entrypoint-initdb.d/create-app-role.sh
#
# The role is no superuser, owns nothing and creates no databases or roles, so
# it can neither skip the audit trail's append-only triggers
# (session_replication_role) nor switch them off. What it may do is granted by
# `manage.py grant_app_role forensics_app`, which the migrate service runs after
# every migration (README, "Deploying").
set -e
psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set app_password="${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD in .env}" <<'SQL'
CREATE ROLE forensics_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    PASSWORD :'app_password';
SQL
