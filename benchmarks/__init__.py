"""Benchmarks of the lakehouse: one module per benchmark, run by ``python -m benchmarks [names...]``.

Add a benchmark by writing ``benchmarks/<name>.py`` with ``NAME``, ``DESCRIPTION`` and
``run(quick: bool) -> benchmarks.common.Result`` and listing it in :data:`BENCHMARKS` (run order).
"""

BENCHMARKS: tuple[str, ...] = (
    "edgar_client",
    "rate_budget",
    "companyfacts_parse",
    "bulk",
    "scaling",
    "dbt_memory",
    "end_to_end",
    "feast_online",
    "training",
)
