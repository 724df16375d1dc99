"""Return forecasting: training set, tuned quantile model, monthly predictions and live performance.

The model forecasts each ticker's 21-trading-day forward excess log return over ``^GSPC`` (``gold.labels``)
at month ends, from the ``return_model_v2`` feature service (v1 stays registered to compare), as the
10th/50th/90th percentiles.
"""

import os

# Before anything imports MLflow: no telemetry, and the model's requirements are pinned where it is logged
# (MLflow would otherwise copy the uv project files into every model).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
