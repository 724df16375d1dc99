"""The Dagster code location: every domain's assets, checks, jobs, schedules and sensors, and the resources."""

import dagster as dg

from finance_assets.core.automation import with_default_automation
from finance_assets.core.io_manager import IcebergIOManager, LakehouseResource
from finance_assets.core.sources import RawArchiveResource
from finance_assets.edgar import assets as edgar_assets
from finance_assets.edgar import holdings_assets
from finance_assets.edgar.assets import SecEdgarResource
from finance_assets.edgar.holdings_schedules import build_holdings_automation
from finance_assets.edgar.schedules import build_edgar_automation
from finance_assets.features import assets as feature_assets
from finance_assets.features.assets import FeastResource
from finance_assets.fmp import assets as fmp_assets
from finance_assets.fmp.schedules import build_fmp_automation
from finance_assets.fmp.source import FmpResource
from finance_assets.market import assets as market_assets
from finance_assets.market.assets import MarketDataResource
from finance_assets.market.schedules import build_market_automation
from finance_assets.ml import assets as ml_assets
from finance_assets.ml.automation import build_automation
from finance_assets.transform import assets as transform_assets
from finance_assets.transform.resources import transform_resources

lakehouse = LakehouseResource()

# schedules/sensors are STOPPED unless LAKEHOUSE_AUTOMATION=on; merged in so the module holds ONE Definitions
defs = dg.Definitions.merge(
    dg.Definitions(
        assets=with_default_automation(
            dg.load_assets_from_modules(
                [edgar_assets, holdings_assets, market_assets, fmp_assets, transform_assets, feature_assets, ml_assets]
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
    build_edgar_automation(),
    build_holdings_automation(),
    build_fmp_automation(),
    build_market_automation(),
    build_automation(),
)
