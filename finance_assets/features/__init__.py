"""Features: Feast over the Gold Iceberg tables (feature_repo/), its Dagster assets and the training export.

- :mod:`.store`: the Feast config of the active profile and the definitions of ``feature_repo/``.
- :mod:`.sources`: ``LakehouseIcebergSource`` (catalog from settings, snapshot pinning).
- :mod:`.tables`: Gold reshaped to one row per (ticker, event time).
- :mod:`.assets`: Dagster assets (group ``features``).
- :mod:`.training`: ``build_training_frame`` for the ML side, reproducible from Iceberg snapshots.
"""
