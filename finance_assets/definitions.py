"""The Dagster code location: every domain's assets, checks and the resources they share."""

import dagster as dg

from finance_assets.bronze.edgar import assets as edgar_assets
from finance_assets.bronze.edgar.assets import SecEdgarResource
from finance_assets.bronze.fmp import assets as fmp_assets
from finance_assets.bronze.fmp.source import FmpResource
from finance_assets.bronze.prices import assets as price_assets
from finance_assets.bronze.prices.assets import MarketDataResource
from finance_assets.core.io_manager import IcebergIOManager, LakehouseResource
from finance_assets.core.sources import RawArchiveResource
from finance_assets.features import assets as feature_assets
from finance_assets.features.assets import FeastResource
from finance_assets.ml import assets as ml_assets
from finance_assets.ml.automation import build_automation, with_default_automation
from finance_assets.transform import assets as transform_assets
from finance_assets.transform.resources import transform_resources

lakehouse = LakehouseResource()

# schedules/sensors are STOPPED unless LAKEHOUSE_AUTOMATION=on; merged in so the module holds ONE Definitions
defs = dg.Definitions.merge(
    dg.Definitions(
        assets=with_default_automation(
            dg.load_assets_from_modules(
                [edgar_assets, price_assets, fmp_assets, transform_assets, feature_assets, ml_assets]
            )
        ),
        resources={
            "lakehouse": lakehouse,
            "iceberg_io_manager": IcebergIOManager(lakehouse=lakehouse),
            "archive": RawArchiveResource(),
            "sec": SecEdgarResource(),
            "market_data": MarketDataResource(),
            "fmp": FmpResource(),
            "feast": FeastResource(),
            **transform_resources(),
        },
    ),
    build_automation(),
)
