"""Entity rows, labels, features and lineage of the return model, all read at pinned Iceberg snapshots.

Every read goes through one ``snapshots`` mapping (table -> snapshot id) fixed when a materialization
starts, so the training set, the lineage columns and the MLflow dataset inputs describe the same data
even while dbt rewrites Gold concurrently.

Features come from Feast's offline store (``finance_assets.features.training.build_training_frame``,
feature service ``return_model_v2`` by default, or v1) when that module is present;
:func:`gold_feature_frame` is return_model_v1's point-in-time join written directly against Gold
(``retrieval="gold"``): price features of the as-of session, and the latest financial ratios FILED on or
before it (first-reported values; missing stays missing). It was the stand-in while the Feast repo was
built and stays as an independent reference; it agrees with Feast except where one filing published
several periods (a 10-K's FY and Q4 rows): Feast's
tables pick the more complete row, this join the quarterly one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, GreaterThanOrEqual, LessThanOrEqual

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import (
    BALANCE_SHEET,
    CASH_FLOW,
    COMPANY_SECTORS,
    EDGAR_FILINGS,
    INCOME_STATEMENT,
    MARKET_BENCHMARK,
    PRICES_DAILY,
    table_name,
)
from finance_assets.core.names import FUNDAMENTAL_FEATURES as FUNDAMENTAL_FEATURES_KEY
from finance_assets.features.catalog import DERIVED_FEATURES, SERVICE_V1
from finance_assets.ml.spec import (
    FEATURE_SERVICE,
    FEATURES,
    FUNDAMENTAL_FEATURES,
    LABEL,
    LABELS_TABLE,
    PRICE_FEATURES,
    PRICE_FEATURES_TABLE,
    RATIOS_TABLE,
)
from finance_assets.ml.splits import month_end_sessions

if TYPE_CHECKING:  # feast takes seconds to import
    from feast import FeatureStore

log = logging.getLogger(__name__)

LOOKBACK_BARS = 252  # the longest price-feature window (momentum_252d, beta_252d, 52-week high)
PRICES_ASSET = PRICES_DAILY.to_user_string()
FILINGS_ASSET = EDGAR_FILINGS.to_user_string()

SNAPSHOT_TYPE = pl.List(pl.Struct({"table": pl.String, "snapshot_id": pl.Int64}))
PARTITIONS_TYPE = pl.List(
    pl.Struct({"asset_key": pl.String, "partition_key": pl.String, "records": pl.List(pl.String)})
)


@dataclass(frozen=True)
class FeatureFrame:
    """Features for entity rows, and where they came from."""

    frame: pl.DataFrame  # ticker, as_of_date, <features>
    features: list[str]
    snapshots: dict[str, int]  # every table read -> the snapshot read
    feature_service: str
    retrieval: str  # "feast" (offline store) or "gold" (direct point-in-time join)


def pin_snapshots(lakehouse: IcebergLakehouse, tables: Sequence[str]) -> dict[str, int]:
    """The current snapshot of each table: what this materialization will read, whatever commits later."""
    pins = {}
    for table in tables:
        snapshot_id = lakehouse.current_snapshot_id(table)
        if snapshot_id is None:
            raise ValueError(f"{table} has no snapshot yet: materialize it (dbt build) before the ML assets")
        pins[table] = snapshot_id
    return pins


def _read(
    lakehouse: IcebergLakehouse,
    table: str,
    snapshots: Mapping[str, int],
    row_filter: BooleanExpression | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    return lakehouse.read(table, row_filter or AlwaysTrue(), snapshot_id=snapshots[table], columns=columns)


def _date_range(column: str, start: date | None, end: date | None) -> BooleanExpression:
    expr: BooleanExpression = AlwaysTrue()
    if start is not None:
        expr = GreaterThanOrEqual(column, start.isoformat())
    if end is not None:
        upper = LessThanOrEqual(column, end.isoformat())
        expr = upper if start is None else And(expr, upper)
    return expr


def month_end_entities(
    lakehouse: IcebergLakehouse, snapshots: Mapping[str, int], start: date, end: date
) -> pl.DataFrame:
    """(ticker, as_of_date) for every ticker with a bar on the last NYSE session of each month in range.

    A month whose last session has no bar yet (data not loaded, or the month is not over) has no rows:
    a partial month's last bar is not a month end.
    """
    month_ends = month_end_sessions(start, end)
    if not month_ends:
        return pl.DataFrame(schema={"ticker": pl.String, "as_of_date": pl.Date})
    bars = _read(
        lakehouse,
        PRICE_FEATURES_TABLE,
        snapshots,
        _date_range("trade_date", month_ends[0], month_ends[-1]),
        columns=["ticker", "trade_date"],
    )
    return (
        bars.filter(pl.col("trade_date").is_in(month_ends) & (pl.col("ticker") != MARKET_BENCHMARK))
        .select("ticker", pl.col("trade_date").alias("as_of_date"))
        .unique()
        .sort("as_of_date", "ticker")
    )


def attach_labels(entities: pl.DataFrame, lakehouse: IcebergLakehouse, snapshots: Mapping[str, int]) -> pl.DataFrame:
    """``label`` (forward excess log return) and ``label_end`` (the session it becomes known)."""
    if entities.is_empty():
        return entities.with_columns(pl.lit(None, pl.Float64).alias("label"), pl.lit(None, pl.Date).alias("label_end"))
    labels = _read(
        lakehouse,
        LABELS_TABLE,
        snapshots,
        _date_range("trade_date", entities["as_of_date"].min(), entities["as_of_date"].max()),  # type: ignore[arg-type]
        columns=["ticker", "trade_date", "label_available_at", LABEL],
    ).select(
        "ticker",
        pl.col("trade_date").alias("as_of_date"),
        pl.col(LABEL).alias("label"),
        pl.col("label_available_at").alias("label_end"),
    )
    return entities.join(labels, on=["ticker", "as_of_date"], how="left")


LABEL_TRANSFORMS = ("excess", "sector_neutral_rank")
SECTORS_TABLE = table_name(COMPANY_SECTORS)


def sector_neutral_ranks(frame: pl.DataFrame, sectors: pl.DataFrame) -> pl.DataFrame:
    """``label`` replaced by its rank within (as_of_date, sector), scaled to [-0.5, 0.5] (0 for a sector of
    one name); the excess return stays in ``excess_return``. A model of it predicts who beats its sector
    peers, not by how much: its quantiles are ranks, not returns (rank IC still applies)."""
    joined = frame.join(sectors.select("ticker", "sector"), on="ticker", how="left").with_columns(
        pl.col("sector").fill_null("Unknown")
    )
    group = ["as_of_date", "sector"]
    n = pl.col("label").count().over(group)
    rank = pl.col("label").rank("average").over(group)
    return joined.with_columns(
        pl.col("label").alias("excess_return"),
        pl.when(pl.col("label").is_null())
        .then(None)
        .when(n > 1)
        .then((rank - 1) / (n - 1) - 0.5)
        .otherwise(0.0)
        .alias("label"),
    ).drop("sector")


def _ratios_asof(ratios: pl.DataFrame) -> pl.DataFrame:
    """One ratio row per (ticker, filed_at): a 10-K publishes the FY row and the derived Q4 together;
    the quarterly one is kept so every company is seen at the same (quarterly) cadence."""
    return (
        ratios.filter(pl.col("filed_at").is_not_null())
        .with_columns((pl.col("period_type") == "Q").alias("_quarterly"))
        .sort("ticker", "filed_at", "_quarterly", "period_end")
        .unique(subset=["ticker", "filed_at"], keep="last", maintain_order=True)
        .drop("_quarterly")
        .sort("filed_at")
    )


def gold_feature_frame(
    entities: pl.DataFrame, lakehouse: IcebergLakehouse, snapshots: Mapping[str, int]
) -> pl.DataFrame:
    """return_model_v1 as a direct point-in-time join on Gold (see the module docstring)."""
    if entities.is_empty():
        return entities.with_columns([pl.lit(None, pl.Float64).alias(f) for f in FEATURES])
    prices = _read(
        lakehouse,
        PRICE_FEATURES_TABLE,
        snapshots,
        _date_range("trade_date", entities["as_of_date"].min(), entities["as_of_date"].max()),  # type: ignore[arg-type]
        columns=["ticker", "trade_date", *PRICE_FEATURES],
    ).rename({"trade_date": "as_of_date"})
    ratios = _ratios_asof(
        _read(
            lakehouse,
            RATIOS_TABLE,
            snapshots,
            columns=["ticker", "period_type", "period_end", "filed_at", *FUNDAMENTAL_FEATURES],
        )
    )
    frame = entities.join(prices, on=["ticker", "as_of_date"], how="left").sort("as_of_date")
    frame = frame.join_asof(
        ratios.select("ticker", "filed_at", *FUNDAMENTAL_FEATURES),
        left_on="as_of_date",
        right_on="filed_at",
        by="ticker",
        strategy="backward",
        check_sortedness=False,  # sorted by date, hence within each ticker
    )
    return frame.with_columns(
        (pl.col("as_of_date") - pl.col("filed_at")).dt.total_days().cast(pl.Float64).alias("days_since_filing")
    ).select("ticker", "as_of_date", *FEATURES)


FUNDAMENTALS_TTL = timedelta(days=456)  # feature_repo's fundamentals/financial_ratios TTL (Gold path too)
STATEMENT_TABLES: tuple[str, ...] = tuple(table_name(key) for key in (INCOME_STATEMENT, BALANCE_SHEET, CASH_FLOW))
FEAST_PERIOD_TABLE = table_name(FUNDAMENTAL_FEATURES_KEY)


def lineage_tables(retrieval: str) -> tuple[str, ...]:
    """Tables :func:`lineage` reads, besides price features (pin them with the feature tables)."""
    period = FEAST_PERIOD_TABLE if retrieval == "feast" else RATIOS_TABLE
    return (PRICE_FEATURES_TABLE, period, *STATEMENT_TABLES)


def feast_service_tables(store: FeatureStore, feature_service: str = FEATURE_SERVICE) -> dict[str, str]:
    """Feature view -> Iceberg table of the service, from the registry (raises if it is not applied)."""
    from finance_assets.features.training import service_tables

    return service_tables(store, feature_service)


def feature_frame(
    entities: pl.DataFrame,
    lakehouse: IcebergLakehouse,
    snapshots: Mapping[str, int],
    *,
    store: FeatureStore | None,
    feature_service: str = FEATURE_SERVICE,
    retrieval: str = "feast",
) -> FeatureFrame:
    """Features of ``entities`` from Feast's offline store ``store`` (``retrieval="feast"``) or the Gold join."""
    if retrieval == "gold":
        if feature_service != GOLD_SERVICE:
            raise ValueError(
                f"retrieval='gold' reproduces {GOLD_SERVICE} only; {feature_service} is served by Feast "
                "(retrieval='feast')"
            )
        frame = gold_feature_frame(entities, lakehouse, snapshots)
        read = {t: snapshots[t] for t in (PRICE_FEATURES_TABLE, RATIOS_TABLE)}
        return FeatureFrame(frame, list(FEATURES), read, feature_service, "gold")
    if retrieval != "feast":
        raise ValueError(f"retrieval must be 'feast' or 'gold', not {retrieval!r}")
    if store is None:
        raise ValueError("retrieval='feast' needs the Feast store")
    from finance_assets.features.training import build_training_frame

    def build(entity_df: Any, **kwargs: Any) -> Any:
        return build_training_frame(entity_df, store=store, lakehouse=lakehouse, **kwargs)

    return _feast_feature_frame(build, entities, snapshots, feature_service)


# Feast string features turned into numbers XGBoost can split on (null stays null).
CATEGORICAL_AS_NUMBER: dict[str, tuple[str, pl.Expr]] = {
    "period_type": (DERIVED_FEATURES["period_type"], (pl.col("period_type") == "FY").cast(pl.Float64)),
}


AGE_FEATURES: dict[str, str] = {"filed_at": DERIVED_FEATURES["filed_at"]}
GOLD_SERVICE = SERVICE_V1  # the one service the direct Gold join reproduces


def model_inputs(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Feast's columns as the model reads them: labels as numbers (period_type -> period_is_annual), dates
    as their age in days at ``as_of_date`` (filed_at -> days_since_filing), numbers as Float64.

    The one transformation of both paths: the training export (offline store) and the serving path
    (:func:`online_feature_frame`, the online store), so a served vector is the vector the model trained on.
    """
    for column, (name, expr) in CATEGORICAL_AS_NUMBER.items():
        if column in frame.columns:
            frame = frame.with_columns(expr.alias(name)).drop(column)
    # a date feature is a staleness: days from it to the decision date (filed_at -> days_since_filing)
    for column in [c for c, t in frame.schema.items() if t.is_temporal() and c != "as_of_date"]:
        name = AGE_FEATURES.get(column, f"{column}_age_days")
        age = (pl.col("as_of_date") - pl.col(column).cast(pl.Date)).dt.total_days().cast(pl.Float64)
        frame = frame.with_columns(age.alias(name)).drop(column)
    candidates = [c for c in frame.columns if c not in ("ticker", "as_of_date")]
    dropped = [c for c in candidates if not (frame.schema[c].is_numeric() or frame.schema[c] == pl.Null)]
    if dropped:
        log.warning("non-numeric features left out of the model: %s", dropped)
    features = [c for c in candidates if c not in dropped]
    frame = frame.with_columns(pl.col(features).cast(pl.Float64)).select("ticker", "as_of_date", *features)
    return frame, features


def online_feature_frame(
    store: FeatureStore, tickers: Sequence[str], as_of: date, feature_service: str = FEATURE_SERVICE
) -> pl.DataFrame:
    """The serving path: the model inputs of ``tickers`` from the online store (the latest values), as of
    ``as_of`` (the decision date their ages are counted to)."""
    response = store.get_online_features(
        features=store.get_feature_service(feature_service), entity_rows=[{"ticker": t} for t in tickers]
    ).to_dict()
    frame = pl.DataFrame(response, strict=False).with_columns(pl.lit(as_of).alias("as_of_date"))
    return model_inputs(frame)[0]


def _feast_feature_frame(
    build_training_frame: Any, entities: pl.DataFrame, snapshots: Mapping[str, int], feature_service: str
) -> FeatureFrame:
    import pandas as pd  # Feast speaks pandas

    entity_df = pd.DataFrame(
        {
            "ticker": entities["ticker"].to_list(),
            # the decision date at 00:00 UTC: features of that close, filings public that day (repo convention)
            "event_timestamp": pd.to_datetime(entities["as_of_date"].to_list()).tz_localize("UTC"),
        }
    )
    frame_pd, read = build_training_frame(entity_df, feature_service=feature_service, snapshots=snapshots)
    frame = pl.from_pandas(frame_pd)
    frame = frame.with_columns(pl.col("event_timestamp").dt.date().alias("as_of_date")).drop("event_timestamp")
    frame, features = model_inputs(frame)
    return FeatureFrame(frame, features, {k: int(v) for k, v in read.items()}, feature_service, "feast")


def _feast_ttl(store: FeatureStore | None, view: str) -> timedelta | None:
    """The registered TTL of a feature view (the as-of window Feast applied), None if unavailable."""
    try:
        if store is None:
            raise ValueError("no Feast store given")
        ttl = store.get_feature_view(view).ttl
    except Exception:  # registry not applied or unreachable: the repo's documented TTL
        log.warning("could not read the TTL of feature view %s from the registry", view, exc_info=True)
        return None
    return ttl or None


def _period_choice(
    entities: pl.DataFrame,
    lakehouse: IcebergLakehouse,
    snapshots: Mapping[str, int],
    retrieval: str,
    store: FeatureStore | None,
) -> pl.DataFrame:
    """The fiscal period whose fundamentals each entity row saw (the same as-of rule as its features)."""
    ttl = FUNDAMENTALS_TTL
    if retrieval == "feast":
        ttl = _feast_ttl(store, "fundamentals") or ttl
        periods = _read(
            lakehouse,
            FEAST_PERIOD_TABLE,
            snapshots,
            columns=["ticker", "event_timestamp", "period_type", "period_end"],
        ).select("ticker", "period_type", "period_end", pl.col("event_timestamp").dt.date().alias("known_at"))
    else:
        periods = _ratios_asof(
            _read(lakehouse, RATIOS_TABLE, snapshots, columns=["ticker", "period_type", "period_end", "filed_at"])
        ).select("ticker", "period_type", "period_end", pl.col("filed_at").alias("known_at"))
    return (
        entities.sort("as_of_date")
        .join_asof(
            periods.sort("known_at"),
            left_on="as_of_date",
            right_on="known_at",
            by="ticker",
            strategy="backward",
            check_sortedness=False,  # sorted by date, hence within each ticker
            tolerance=ttl,
        )
        .select("ticker", "as_of_date", "period_type", "period_end")
    )


_NO_ACCESSIONS = pl.lit([], pl.List(pl.String))


def _period_accessions(lakehouse: IcebergLakehouse, snapshots: Mapping[str, int]) -> pl.DataFrame:
    """Per (ticker, period_type, period_end): every filing a first-reported value of the period came from.

    The primary filing of each statement plus each line item's source filings (a derived quarter names
    all its operands' filings), counting only values public on the row's ``filed_at``.
    """
    parts = []
    for table in STATEMENT_TABLES:
        frame = _read(lakehouse, table, snapshots)
        items = [c[: -len("_accessions")] for c in frame.columns if c.endswith("_accessions")]
        used = [
            pl.when(pl.col(item).is_not_null())
            .then(pl.col(f"{item}_accessions"))
            .otherwise(pl.lit([], pl.List(pl.String)))
            for item in items
            if item in frame.columns
        ]
        parts.append(
            frame.select(
                "ticker",
                "period_type",
                "period_end",
                pl.concat_list([pl.concat_list(pl.col("accession_number")), *used]).alias("accessions"),
            )
        )
    return (
        pl.concat(parts)
        .explode("accessions")
        .drop_nulls("accessions")
        .group_by("ticker", "period_type", "period_end")
        .agg(pl.col("accessions").unique().sort())
    )


def lineage(
    entities: pl.DataFrame,
    lakehouse: IcebergLakehouse,
    snapshots: Mapping[str, int],
    *,
    store: FeatureStore | None,
    retrieval: str = "feast",
) -> pl.DataFrame:
    """Per entity row, the upstream partitions its features depend on (``source_partitions``).

    - ``bronze/prices_daily``: the monthly partitions spanning the longest feature window, as a Dagster
      range ``first...last`` (the months of the 252 bars before the as-of session), for the ticker and
      the benchmark.
    - ``bronze/edgar_filings``: the company's partition and the accession numbers of the filings whose
      first-reported values fed the fundamentals of the fiscal period the row saw.
    """
    if entities.is_empty():
        return entities.with_columns(pl.lit(None, PARTITIONS_TYPE).alias("source_partitions"))
    bars = (
        _read(lakehouse, PRICE_FEATURES_TABLE, snapshots, columns=["ticker", "trade_date"])
        .sort("ticker", "trade_date")
        .with_columns(pl.col("trade_date").shift(LOOKBACK_BARS).over("ticker").alias("window_start"))
        .with_columns(pl.col("window_start").fill_null(pl.col("trade_date").min().over("ticker")))
        .rename({"trade_date": "as_of_date"})
    )
    joined = (
        entities.join(bars, on=["ticker", "as_of_date"], how="left")
        .join(_period_choice(entities, lakehouse, snapshots, retrieval, store), on=["ticker", "as_of_date"], how="left")
        .join(_period_accessions(lakehouse, snapshots), on=["ticker", "period_type", "period_end"], how="left")
    )
    prices = pl.struct(
        pl.lit(PRICES_ASSET).alias("asset_key"),
        pl.concat_str(
            pl.col("window_start").dt.truncate("1mo").cast(pl.String),
            pl.lit("..."),
            pl.col("as_of_date").dt.truncate("1mo").cast(pl.String),
        ).alias("partition_key"),
        pl.concat_list(pl.col("ticker"), pl.lit(MARKET_BENCHMARK)).alias("records"),
    )
    filings = pl.struct(
        pl.lit(FILINGS_ASSET).alias("asset_key"),
        pl.col("ticker").alias("partition_key"),
        pl.col("accessions").alias("records"),
    )
    partitions = (
        pl.when(pl.col("accessions").list.len() > 0)
        .then(pl.concat_list(prices, filings))
        .otherwise(pl.concat_list(prices))
    )
    return joined.select("ticker", "as_of_date", partitions.cast(PARTITIONS_TYPE).alias("source_partitions"))


def snapshot_list(snapshots: Mapping[str, int]) -> list[dict[str, Any]]:
    """``source_snapshots`` cell value: every table read with its snapshot id, sorted by table."""
    return [{"table": t, "snapshot_id": int(s)} for t, s in sorted(snapshots.items())]


def snapshots_json(snapshots: Mapping[str, int]) -> str:
    return json.dumps({t: int(s) for t, s in sorted(snapshots.items())})
