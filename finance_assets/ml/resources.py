"""MLflow and Optuna as Dagster resources: where runs, models and studies are stored.

Embedded profile: MLflow tracks into SQLite ``$LAKEHOUSE_HOME/mlflow.db`` with artifacts under
``$LAKEHOUSE_HOME/mlartifacts``, Optuna studies live in ``$LAKEHOUSE_HOME/optuna.db``. prod: the MLflow server
(``MLFLOW_TRACKING_URI``, which stores artifacts itself) and Postgres (``OPTUNA_STORAGE``); unset, the
training and prediction steps fail naming the variable, and nothing else does.
"""

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from finance_assets.core.resources import local_path
from finance_assets.core.settings import missing_setting
from finance_assets.ml.spec import EXPERIMENT_NAME

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from finance_assets.ml.tracking import MlflowStore


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry of the profile."""

    tracking_uri: str | None = Field(description="sqlite:///... (embedded) or the server's http(s) URL; None: unset.")
    artifact_location: str | None = Field(
        default=None, description="Where a new experiment's artifacts go; None: the tracking server decides."
    )

    ui_url: str = Field(
        default="http://127.0.0.1:5000", description="MLFLOW_UI_URL: base of the run links in asset metadata."
    )

    def store(self) -> "MlflowStore":
        from finance_assets.ml.tracking import MlflowStore

        if not self.tracking_uri:
            raise dg.Failure(description=str(missing_setting("MLFLOW_TRACKING_URI")))
        for uri in (self.tracking_uri, self.artifact_location or ""):
            path = local_path(uri) if uri.startswith(("sqlite:", "file:")) else None
            if path is not None:
                (path.parent if uri.startswith("sqlite:") else path).mkdir(parents=True, exist_ok=True)
        return MlflowStore(self.tracking_uri, self.artifact_location)

    def configure(self, experiment: str = EXPERIMENT_NAME) -> tuple["MlflowClient", str]:
        """Point MLflow at this store and return the client and the experiment id."""
        from finance_assets.ml import tracking

        return tracking.configure(self.store(), experiment)


class OptunaResource(dg.ConfigurableResource):
    """Where Optuna keeps studies, so a re-run on the same data resumes instead of starting over."""

    storage: str | None = Field(description="sqlite:///... (embedded) or postgresql+psycopg2://... ; None: unset.")

    def storage_url(self) -> str:
        if not self.storage:
            raise dg.Failure(description=str(missing_setting("OPTUNA_STORAGE")))
        path = local_path(self.storage) if self.storage.startswith("sqlite:") else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return self.storage
