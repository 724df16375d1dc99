"""Operations: Iceberg table maintenance (the `lakehouse_maintenance` job) and crash recovery (`recover`).

See ``docs/operations.md``: what each part keeps, removes and frees, and within which bound.
"""
