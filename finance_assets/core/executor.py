"""The executor of every job in the code location, chosen by ``DAGSTER_EXECUTOR`` (``core/settings.py``).

- ``multiprocess`` (default): Dagster's own default, ``multi_or_in_process_executor``: a process per step,
  unless a run's config asks for ``execution: {config: {in_process: {}}}`` (the prod tests do).
- ``in_process``: every step in the run's process (a small machine, a debugger).
- ``k8s``: ``dagster_k8s.k8s_job_executor``, a Kubernetes Job per step, under the Helm chart's
  ``K8sRunLauncher`` (``deploy/helm/values.yaml``). Only ``max_concurrent`` is configured: with no image, env
  or secrets of its own, dagster-k8s gives each step pod the run pod's image (the code location's
  ``DAGSTER_CURRENT_IMAGE``), the run launcher's ``envSecrets``/``env`` and the user deployment's ``env``
  and ``envSecrets`` (``includeConfigInLaunchedRuns``), its namespace and kubeconfig mode and its resources.

``JobDefinition.execute_in_process`` (``finance_assets.launch``: ``make demo``, ``cli materialize``) replaces
whatever executor a job has with the in-process one, so every setting leaves those launches as they are.
"""

from __future__ import annotations

import dagster as dg

from finance_assets.core.settings import Settings


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """The executor ``dg.Definitions(executor=...)`` gives every job that names none of its own."""
    if settings.executor == "k8s":
        # imported only here: the Kubernetes client adds seconds to every import of the code location
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured({"max_concurrent": settings.k8s_max_concurrent}, name="k8s")
    if settings.executor == "in_process":
        return dg.in_process_executor
    return dg.multi_or_in_process_executor
