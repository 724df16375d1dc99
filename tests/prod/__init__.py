"""Production-profile tests on real Postgres, S3 (SeaweedFS) and Redis: `make test-prod`."""
