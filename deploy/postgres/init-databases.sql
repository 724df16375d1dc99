-- Run once by the postgres container on an empty volume (docker-entrypoint-initdb.d), as POSTGRES_USER.
-- One database per consumer: Dagster, MLflow and Optuna each keep their own `alembic_version` table, so
-- they cannot share one. The names match the URLs in .env.example.
CREATE DATABASE dagster;
CREATE DATABASE lakehouse_catalog;
CREATE DATABASE mlflow;
CREATE DATABASE feast;
CREATE DATABASE optuna;
