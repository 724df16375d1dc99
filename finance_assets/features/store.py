"""The feature definitions of ``feature_repo/``: what ``feast apply`` registers, and their fingerprints.

The store itself (which registry and online store, from the profile) is
:class:`finance_assets.features.resources.FeastResource`.

Importing this module does not import feast (seconds): the Dagster code location stays quick to load.

Definitions: ``feature_repo/*.py`` are what ``feast apply`` reads. :func:`load_definitions` imports them by
path (no ``chdir``, unlike feast's own ``parse_repo``), so a Dagster run applies exactly what the CLI would.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # feast takes seconds to import: only the functions that need it import it
    from feast import FeatureStore
    from feast.repo_contents import RepoContents

FEATURE_REPO = Path(__file__).resolve().parents[2] / "feature_repo"


# ---- definitions -------------------------------------------------------------------------------------------
def repo_files() -> list[Path]:
    """The Python files ``feast apply`` imports (sorted: the same order every time)."""
    return sorted(p for p in FEATURE_REPO.glob("*.py") if not p.name.startswith("_"))


def definitions_version() -> str:
    """Hash of the definitions (feature_repo/*.py and the source class they serialise through).

    The Dagster code version of ``feast_registry``: a change here is a change of the registry.
    """
    digest = hashlib.sha256()
    for path in [*repo_files(), Path(__file__).with_name("sources.py")]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_definitions() -> RepoContents:
    """The Feast objects defined in ``feature_repo/*.py`` (what ``feast apply`` would register)."""
    from feast import Entity, FeatureService, FeatureView
    from feast.feature_view import DUMMY_ENTITY
    from feast.repo_contents import RepoContents

    contents = RepoContents(
        projects=[],
        data_sources=[],
        entities=[],
        feature_views=[],
        feature_services=[],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        permissions=[],
    )
    for path in repo_files():
        name = f"_lakehouse_feature_repo.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if isinstance(value, Entity) and not any(value is e for e in contents.entities):
                contents.entities.append(value)
            elif isinstance(value, FeatureView) and not any(value is v for v in contents.feature_views):
                contents.feature_views.append(value)
                if value.batch_source is not None and not any(value.batch_source is s for s in contents.data_sources):
                    contents.data_sources.append(value.batch_source)
            elif isinstance(value, FeatureService) and not any(value is s for s in contents.feature_services):
                contents.feature_services.append(value)
    contents.entities.append(DUMMY_ENTITY)  # feast's parse_repo adds it too (entity-less views)
    return contents


# ---- fingerprints ----------------------------------------------------------------------------------------------
# What Feast stamps itself, by proto message: cleared before comparing definitions with the registry.
_STAMPED_FIELDS = {
    "feast.core.DataSource": ("meta", "project"),  # creation time of the Python object, project
    "feast.core.FeatureViewSpec": ("entity_columns", "project"),  # inferred from the entities at apply
    "feast.core.EntitySpecV2": ("project",),
    "feast.core.FeatureServiceSpec": ("project",),
}


def _scrub(message: Any) -> Any:
    """Clear the stamped fields of ``message`` and every message nested in it (in place)."""
    for name in _STAMPED_FIELDS.get(message.DESCRIPTOR.full_name, ()):
        message.ClearField(name)
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        if repeated:
            if field.message_type.GetOptions().map_entry:
                values = value.values() if field.message_type.fields_by_name["value"].message_type else []
            else:
                values = value
            for item in values:
                _scrub(item)
        else:
            _scrub(value)
    return message


def _specs(entities: list[Any], views: list[Any], services: list[Any], sources: list[Any]) -> dict[str, bytes]:
    """``"<kind> <name>"`` -> serialized spec without what Feast stamps itself (project, times, inferred columns)."""
    from feast.feature_view import DUMMY_ENTITY_NAME

    protos: dict[str, Any] = {f"entity {e.name}": e.to_proto().spec for e in entities if e.name != DUMMY_ENTITY_NAME}
    protos |= {f"feature view {v.name}": v.to_proto().spec for v in views}
    protos |= {f"feature service {s.name}": s.to_proto().spec for s in services}
    protos |= {f"data source {d.name}": d.to_proto() for d in sources}
    return {key: _scrub(proto).SerializeToString(deterministic=True) for key, proto in protos.items()}


def definition_specs(contents: RepoContents) -> dict[str, bytes]:
    return _specs(contents.entities, contents.feature_views, contents.feature_services, contents.data_sources)


def registry_specs(store: FeatureStore) -> dict[str, bytes]:
    return _specs(
        store.list_entities(), store.list_feature_views(), store.list_feature_services(), store.list_data_sources()
    )


def fingerprint(specs: Mapping[str, bytes]) -> str:
    """Hash of normalized specs: equal for the definitions and the registry once they are applied.

    Feast's own ``plan`` is not usable as a "did anything change" test: a source's proto carries its
    creation time, so after a materialization every view shows as updated. This compares specs only.
    """
    digest = hashlib.sha256()
    for key in sorted(specs):
        for part in (key.encode(), specs[key]):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()[:16]


def spec_changes(registered: Mapping[str, bytes], wanted: Mapping[str, bytes]) -> list[str]:
    """``create|update|delete <kind> <name>`` for every object that differs."""
    changes = [f"create {key}" for key in sorted(wanted.keys() - registered.keys())]
    changes += [f"update {key}" for key in sorted(wanted.keys() & registered.keys()) if wanted[key] != registered[key]]
    changes += [f"delete {key}" for key in sorted(registered.keys() - wanted.keys())]
    return changes
