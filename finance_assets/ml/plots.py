"""Figures logged with the model and shown in Dagster (matplotlib, headless).

Figures are built with ``matplotlib.figure.Figure``, not ``pyplot``: pyplot keeps every figure it makes open in
a global registry until closed (and warns past 20), while a plain Figure is garbage like any object once saved.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import numpy as np
import polars as pl
from matplotlib.figure import Figure


def feature_importance(importance: Mapping[str, float], title: str) -> Figure:
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(7, 0.3 * len(items) + 1.2))
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4C72B0")
    ax.set_xlabel("share of total gain")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def predicted_vs_realized(frame: pl.DataFrame, title: str) -> Figure:
    """Predicted median (with its p10-p90 interval) against the realised label, out of sample."""
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    if not frame.is_empty():
        y = frame["label"].to_numpy()
        mid = frame["pred_p50"].to_numpy()
        err = np.vstack([mid - frame["pred_p10"].to_numpy(), frame["pred_p90"].to_numpy() - mid])
        ax.errorbar(mid, y, xerr=err, fmt="o", alpha=0.6, ecolor="#bbbbbb", markersize=4)
        lo, hi = float(min(y.min(), mid.min())), float(max(y.max(), mid.max()))
        ax.plot([lo, hi], [lo, hi], "--", color="grey", linewidth=1)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel("predicted p50 (bars: p10-p90)")
    ax.set_ylabel("realised 21d excess log return")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def live_performance(monthly: pl.DataFrame, title: str, nominal_coverage: float) -> Figure:
    """Rank IC and interval coverage of past predictions, per month."""
    fig = Figure(figsize=(8, 5))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    if not monthly.is_empty():
        dates = monthly["as_of_date"].to_list()
        ic = monthly["rank_ic"].fill_null(np.nan).to_numpy()
        ax1.bar(dates, ic, width=20, color=["#55A868" if v >= 0 else "#C44E52" for v in np.nan_to_num(ic)])
        ax1.plot(dates, monthly["rank_ic"].rolling_mean(6, min_samples=1).fill_null(np.nan).to_numpy(), color="k")
        ax2.plot(dates, monthly["coverage"].to_numpy(), marker="o")
    ax1.axhline(0, color="black", linewidth=0.5)
    ax1.set_ylabel("rank IC (bars), 6m mean")
    ax2.axhline(nominal_coverage, color="grey", linestyle="--", linewidth=1)
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_ylabel("p10-p90 coverage")
    ax1.set_title(title)
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def markdown_table(frame: pl.DataFrame, digits: int = 4) -> str:
    """A small frame as a Markdown table (Dagster renders it in the materialization metadata)."""
    if frame.is_empty():
        return "_no rows_"

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if value != value else f"{value:.{digits}f}"  # NaN -> blank
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def backtest_cumulative(real: pl.DataFrame, placebo: pl.DataFrame, title: str) -> Figure:
    """Compounded long-short return, gross and net of costs, of the real run and of the placebo."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for frame, label, color in ((real, "model", "#4C72B0"), (placebo, "placebo (shuffled labels)", "#999999")):
        if frame.is_empty():
            continue
        dates = frame["as_of_date"].to_list()
        ax.plot(dates, np.cumprod(1 + frame["long_short_return"].to_numpy()) - 1, color=color, label=f"{label}, gross")
        net = np.cumprod(1 + frame["long_short_return_net"].to_numpy()) - 1
        ax.plot(dates, net, color=color, linestyle="--", label=f"{label}, net of costs")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("cumulative long-short return")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def ic_by_month(real: pl.DataFrame, placebo: pl.DataFrame, title: str) -> Figure:
    """Monthly rank IC of the real run (bars) and of the placebo (line)."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    if not real.is_empty():
        ic = real["rank_ic"].fill_null(np.nan).to_numpy()
        colors = ["#55A868" if v >= 0 else "#C44E52" for v in np.nan_to_num(ic)]
        ax.bar(real["as_of_date"].to_list(), ic, width=20, color=colors, label="model")
    if not placebo.is_empty():
        placebo_ic = placebo["rank_ic"].fill_null(np.nan).to_numpy()
        ax.plot(placebo["as_of_date"].to_list(), placebo_ic, "k.-", label="placebo")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("rank IC")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def quantile_calibration(predictions: pl.DataFrame, title: str, buckets: int = 10) -> Figure:
    """Per decile of predicted p50: mean predicted p50 vs mean realised label, and the share of realised
    labels under p10 and under p90 (nominal 10% and 90%)."""
    fig = Figure(figsize=(9, 4))
    ax1, ax2 = fig.subplots(1, 2)
    scored = predictions.filter(pl.col("label").is_not_null())
    if not scored.is_empty():
        by = (
            scored.with_columns(((pl.col("pred_p50").rank("ordinal") - 1) * buckets // pl.len()).alias("bucket"))
            .group_by("bucket")
            .agg(
                pl.col("pred_p50").mean().alias("predicted"),
                pl.col("label").mean().alias("realised"),
                (pl.col("label") < pl.col("pred_p10")).mean().alias("below_p10"),
                (pl.col("label") < pl.col("pred_p90")).mean().alias("below_p90"),
            )
            .sort("bucket")
        )
        ax1.plot(by["predicted"].to_numpy(), by["realised"].to_numpy(), "o-")
        lo, hi = float(by["predicted"].min()), float(by["predicted"].max())  # type: ignore[arg-type]
        ax1.plot([lo, hi], [lo, hi], "--", color="grey", linewidth=1)
        ax2.plot(by["bucket"].to_numpy(), by["below_p10"].to_numpy(), "o-", label="share below p10")
        ax2.plot(by["bucket"].to_numpy(), by["below_p90"].to_numpy(), "o-", label="share below p90")
        for level in (0.1, 0.9):
            ax2.axhline(level, color="grey", linestyle="--", linewidth=1)
    ax1.set_xlabel("mean predicted p50 (decile)")
    ax1.set_ylabel("mean realised label")
    ax2.set_xlabel("decile of predicted p50")
    ax2.set_ylim(-0.05, 1.05)
    ax2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def optimisation_history(values: list[float], title: str) -> Figure:
    """Objective of each completed trial and the best so far (Optuna's optimisation history)."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if values:
        ax.plot(range(len(values)), values, "o", alpha=0.6, label="trial")
        ax.plot(range(len(values)), np.minimum.accumulate(values), "-", color="#C44E52", label="best so far")
    ax.set_xlabel("completed trial")
    ax.set_ylabel("CV mean pinball loss")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig
