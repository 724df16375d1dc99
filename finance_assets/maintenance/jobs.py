"""The `lakehouse_maintenance` job: lineage tags, compaction, snapshot expiry and orphan removal, weekly.

An op job, not an asset: it changes no table's rows (compaction rewrites the same rows), so it has nothing to
materialize. Its run config defaults come from the settings (``ICEBERG_SNAPSHOT_*``, ``ICEBERG_ORPHAN_*``,
``ICEBERG_COMPACT_*``) and the launchpad shows them; ``python -m finance_assets.cli maintain`` launches the
same job. The weekly schedule is STOPPED unless ``LAKEHOUSE_AUTOMATION=on``.
"""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from finance_assets.core.automation import TIMEZONE, schedule_status
from finance_assets.core.resources import LakehouseResource
from finance_assets.core.settings import Settings
from finance_assets.maintenance.tables import Retention, maintain

JOB_NAME = "lakehouse_maintenance"
SCHEDULE_NAME = "lakehouse_maintenance_weekly"
CRON = "0 3 * * 0"  # Sundays 03:00 New York time (the schedules' one time zone), outside the daily ingest


class MaintenanceConfig(dg.Config):
    """What the maintenance keeps; defaults from the settings of the code location."""

    snapshot_retention_days: float = Field(default=7.0, ge=0, description="Expire snapshots older than this.")
    retain_last: int = Field(default=5, ge=1, description="Each table keeps at least its latest N snapshots.")
    orphan_min_age_hours: float = Field(
        default=24.0, ge=0, description="Remove unreferenced files once this old (younger: a write in flight)."
    )
    compact_min_files: int = Field(default=8, ge=2, description="Compact a partition with this many small files.")
    compact_target_file_mb: int = Field(default=128, ge=1, description="Files below this size are small.")
    tables: list[str] | None = Field(default=None, description="Only these tables (namespace.table); None: all.")

    @classmethod
    def from_settings(cls, settings: Settings) -> "MaintenanceConfig":
        return cls(
            snapshot_retention_days=settings.snapshot_retention_days,
            retain_last=settings.snapshot_retain_last,
            orphan_min_age_hours=settings.orphan_min_age_hours,
            compact_min_files=settings.compact_min_files,
            compact_target_file_mb=settings.compact_target_file_mb,
        )

    def retention(self) -> Retention:
        return Retention(
            snapshot_retention=timedelta(days=self.snapshot_retention_days),
            retain_last=self.retain_last,
            orphan_min_age=timedelta(hours=self.orphan_min_age_hours),
            compact_min_files=self.compact_min_files,
            compact_target_bytes=self.compact_target_file_mb << 20,
        )


@dg.op(description="Tag lineage snapshots, compact small files, expire old snapshots, remove orphan files.")
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, lakehouse: LakehouseResource) -> None:
    reports = maintain(lakehouse.lakehouse(), config.retention(), config.tables)
    for report in reports:
        context.log.info(report.line())
    context.add_output_metadata(
        {
            "tables": len(reports),
            "snapshots_expired": sum(r.snapshots_expired for r in reports),
            "files_compacted": sum(r.files_compacted for r in reports),
            "orphan_files_removed": sum(len(r.orphans_removed) for r in reports),
            "lineage_tags_created": sum(len(r.tags_created) for r in reports),
            "report": dg.MetadataValue.md("\n".join(f"- {r.line()}" for r in reports) or "no tables"),
        }
    )


def run_config(config: MaintenanceConfig) -> dict:
    return {"ops": {"maintain_tables": {"config": config.model_dump(exclude_none=True)}}}


def build_maintenance_definitions(settings: Settings) -> dg.Definitions:
    """The job (its run config defaults from ``settings``) and its weekly schedule."""

    @dg.job(
        name=JOB_NAME,
        config=run_config(MaintenanceConfig.from_settings(settings)),
        description="Iceberg table maintenance: lineage tags, compaction, snapshot expiry, orphan-file removal.",
        tags={"lakehouse/domain": "maintenance"},
    )
    def lakehouse_maintenance() -> None:
        maintain_tables()

    schedule = dg.ScheduleDefinition(
        name=SCHEDULE_NAME,
        job=lakehouse_maintenance,
        cron_schedule=CRON,
        execution_timezone=TIMEZONE,
        default_status=schedule_status(settings),
    )
    return dg.Definitions(jobs=[lakehouse_maintenance], schedules=[schedule])
