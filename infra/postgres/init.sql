-- Runs once, when the Postgres volume is first initialised (docker-entrypoint-initdb.d).
-- POSTGRES_DB creates `mlflow`; the Prefect server gets its own database.
CREATE DATABASE prefect OWNER genforge;
