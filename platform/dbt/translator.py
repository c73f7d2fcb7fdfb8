"""How the dbt nodes appear in the Dagster asset graph: asset keys, groups, check descriptions, code references.

A model is the asset of its bare name (``stg_events`` ...), in the group of its
layer; a source is the asset its yml ``meta.dagster.asset_key`` names
(``raw.events`` is ``raw_events``, the raw asset the consumer commits), in the
group ``raw``. The names come from :mod:`eventlake.dbt.nodes`, which the
dashboard's lineage uses too.

dbt tests appear as asset checks, described by their yml ``description`` or, when
they have none, by what the test and its arguments check
(:func:`~eventlake.dbt.nodes.describe_test`). Each model links to its SQL file
(dagster-dbt's code references) and to the yml that describes its columns; its
``dagster/column_schema`` carries those column descriptions.
"""

import warnings
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    BetaWarning,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from eventlake.dbt.nodes import asset_key_path, describe_test, layer_of

#: the metadata key of an asset's code references in the Dagster UI
CODE_REFERENCES = "dagster/code_references"


def _yml_path(props: Mapping[str, Any]) -> str | None:
    """The project-relative path of the yml that describes a node (``patch_path`` is ``<package>://<path>``)."""
    patch = props.get("patch_path")
    return str(patch).split("://", 1)[-1] if patch else None


class EventlakeDbtTranslator(DagsterDbtTranslator):
    """Keys from :func:`~eventlake.dbt.nodes.asset_key_path`, groups from :func:`~eventlake.dbt.nodes.layer_of`,
    check descriptions from :func:`~eventlake.dbt.nodes.describe_test`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        return AssetKey(asset_key_path(dbt_resource_props))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return layer_of(dbt_resource_props)

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        # code references are a beta API of Dagster (pinned here): its warnings would only repeat that
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BetaWarning)
            spec = super().get_asset_spec(manifest, unique_id, project)
            yml = _yml_path(self.get_resource_props(manifest, unique_id))
            if project is None or yml is None or not self.settings.enable_code_references:
                return spec
            existing = spec.metadata.get(CODE_REFERENCES)
            references = [
                # dagster-dbt's reference to the model's SQL file, named
                *(LocalFileCodeReference(file_path=r.file_path, line_number=r.line_number, label=r.label or "dbt model SQL")
                  for r in (existing.code_references if isinstance(existing, CodeReferencesMetadataValue) else [])),
                LocalFileCodeReference(
                    file_path=str((project.project_dir / yml).resolve()), label="dbt yml: description, columns, tests"
                ),
            ]
            return spec.merge_attributes(metadata={CODE_REFERENCES: CodeReferencesMetadataValue(code_references=references)})

    def get_asset_check_spec(
        self, asset_spec: AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=describe_test(self.get_resource_props(manifest, unique_id)),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=spec.automation_condition,
            partitions_def=spec.partitions_def,
        )


translator = EventlakeDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
)
