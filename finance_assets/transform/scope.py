"""The companies an incremental dbt build rebuilds, handed from the Dagster side to the dbt plugin.

An incremental build (``docs/transform.md``, "Incremental builds") rebuilds the company-keyed models (dbt
config ``company_key``) for a set of companies only. The set is decided once, on the Dagster side
(:mod:`finance_assets.transform.incremental`), and reaches the plugin, which runs inside dbt's process, as
one environment variable holding this object as JSON (like the Dagster run id): dbt's own ``--vars`` are not
visible to a plugin's ``load``. With the variable unset a build is a full build.

The plugin then, for this invocation only:

- reads a company-keyed source (Bronze meta ``company_key``, or a stored model listed in ``keys``) with the
  row filter ``<key> IN (<the companies>)`` at the Bronze snapshot the set was computed against;
- stores a company-keyed model as an Iceberg overwrite of exactly those companies' rows (one commit), and
  refuses to store a model without ``company_key`` (it would replace a whole table with a part of it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyiceberg.expressions import BooleanExpression, In

SCOPE_ENV = "LAKEHOUSE_DBT_COMPANY_SCOPE"
# The company key columns a model or source may declare, and which set of the scope each one filters on.
KEY_COLUMNS = ("cik", "ticker")


@dataclass(frozen=True)
class CompanyScope:
    """Changed companies as both keys: ``ciks`` and every ticker of those CIKs (share classes included).

    ``keys``: Iceberg table -> company key column of every company-keyed model of the project (from the dbt
    manifest), so a stored parent read back from Iceberg is filtered like a source. ``snapshots``: Bronze
    table -> the snapshot the changes were computed against, which the build must read (a commit landing
    after the planning is the next build's change, not a half-seen one).
    """

    ciks: frozenset[str]
    tickers: frozenset[str]
    keys: Mapping[str, str] = field(default_factory=dict)
    snapshots: Mapping[str, int | None] = field(default_factory=dict)

    def values(self, key: str) -> frozenset[str]:
        if key not in KEY_COLUMNS:
            raise ValueError(f"company_key must be one of {KEY_COLUMNS}, got {key!r}")
        return self.ciks if key == "cik" else self.tickers

    def filter(self, key: str) -> BooleanExpression:
        """The rows of the scope's companies in a table keyed by ``key``."""
        return In(key, set(self.values(key))) if self.values(key) else _nothing()

    def to_json(self) -> str:
        return json.dumps(
            {
                "ciks": sorted(self.ciks),
                "tickers": sorted(self.tickers),
                "keys": dict(sorted(self.keys.items())),
                "snapshots": dict(sorted(self.snapshots.items())),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CompanyScope:
        data = json.loads(text)
        return cls(
            ciks=frozenset(data["ciks"]),
            tickers=frozenset(data["tickers"]),
            keys=dict(data.get("keys") or {}),
            snapshots={k: (None if v is None else int(v)) for k, v in (data.get("snapshots") or {}).items()},
        )

    def environment(self) -> dict[str, str]:
        return {SCOPE_ENV: self.to_json()}

    @classmethod
    def from_env(cls) -> CompanyScope | None:
        """The scope of the running dbt invocation, or None for a full build."""
        text = os.environ.get(SCOPE_ENV, "")
        return cls.from_json(text) if text.strip() else None


def _nothing() -> BooleanExpression:
    from pyiceberg.expressions import AlwaysFalse

    return AlwaysFalse()
