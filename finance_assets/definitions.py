"""The Dagster code location: every domain's assets, checks, jobs, schedules and sensors, and the resources.

The environment is read here, once (:meth:`Settings.from_env`), and becomes the resources of the profile
(:func:`finance_assets.resources.resources_for`), every job's executor (:func:`executor_for`,
``DAGSTER_EXECUTOR``) and the automation's defaults; nothing below reads it again.
:func:`build_definitions` builds the same location for other settings (tests, the demo's runs).
"""

import dagster as dg

from finance_assets.core.alerts import build_alert_definitions
from finance_assets.core.automation import with_default_automation
from finance_assets.core.executor import executor_for
from finance_assets.core.freshness import QUARTERLY, build_freshness_definitions
from finance_assets.core.owners import with_owners
from finance_assets.core.settings import Settings
from finance_assets.edgar import assets as edgar_assets
from finance_assets.edgar import fsds_assets, holdings_assets, refresh
from finance_assets.edgar.holdings_schedules import build_holdings_automation
from finance_assets.edgar.schedules import build_edgar_automation
from finance_assets.features import assets as feature_assets
from finance_assets.features.jobs import build_features_definitions
from finance_assets.fmp import assets as fmp_assets
from finance_assets.fmp.schedules import build_fmp_automation
from finance_assets.maintenance.jobs import build_maintenance_definitions
from finance_assets.market import assets as market_assets
from finance_assets.market.schedules import build_market_automation
from finance_assets.ml import assets as ml_assets
from finance_assets.ml.automation import build_automation
from finance_assets.resources import resources_for
from finance_assets.transform import assets as transform_assets
from finance_assets.transform.jobs import build_transform_definitions

ASSETS = with_owners(
    with_default_automation(
        dg.load_assets_from_modules(
            [
                edgar_assets,
                refresh,
                fsds_assets,
                holdings_assets,
                market_assets,
                fmp_assets,
                transform_assets,
                feature_assets,
                ml_assets,
            ]
        )
    )
)


def build_definitions(settings: Settings) -> dg.Definitions:
    """One Definitions of the settings' profile; schedules/sensors are STOPPED unless LAKEHOUSE_AUTOMATION=on."""
    return dg.Definitions.merge(
        dg.Definitions(assets=ASSETS, resources=resources_for(settings), executor=executor_for(settings)),
        build_edgar_automation(settings),
        refresh.build_refresh_automation(settings),
        build_holdings_automation(settings),
        build_fmp_automation(settings),
        build_market_automation(settings),
        build_transform_definitions(),
        build_features_definitions(),
        build_automation(settings),
        build_maintenance_definitions(settings),
        build_alert_definitions(settings),
        build_freshness_definitions(
            settings,
            ASSETS,
            {
                holdings_assets.COVER_PAGES_KEY: QUARTERLY,
                holdings_assets.HOLDINGS_KEY: QUARTERLY,
                fsds_assets.EDGAR_FSDS_FACTS: QUARTERLY,
            },
        ),
    )


defs = build_definitions(Settings.from_env())
