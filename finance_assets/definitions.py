"""The Dagster code location: every domain's assets, checks and the resources they share."""


import dagster as dg

from finance_assets.bronze.edgar import assets as edgar_assets
from finance_assets.bronze.edgar.assets import SecEdgarResource
from finance_assets.core.io_manager import IcebergIOManager, LakehouseResource
from finance_assets.core.sources import RawArchiveResource

lakehouse = LakehouseResource()

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([edgar_assets]),
    resources={
        "lakehouse": lakehouse,
        "iceberg_io_manager": IcebergIOManager(lakehouse=lakehouse),
        "archive": RawArchiveResource(),
        "sec": SecEdgarResource(),
    },
)
