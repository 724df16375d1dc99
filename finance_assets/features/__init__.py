"""Features: Feast over the Gold Iceberg tables (feature_repo/), its Dagster assets and the training export.

- :mod:`.resources`: ``FeastResource``, the Feast store (config) of the profile.
- :mod:`.store`: the definitions of ``feature_repo/`` and their fingerprints.
- :mod:`.sources`: ``LakehouseIcebergSource`` (catalog from settings, snapshot pinning).
- :mod:`.tables`: Gold reshaped to one row per (ticker, event time).
- :mod:`.assets`: Dagster assets (group ``features``).
- :mod:`.training`: ``build_training_frame`` for the ML side, reproducible from Iceberg snapshots.
"""
