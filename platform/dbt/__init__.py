"""The dbt project (``dbt_project/``) as eventlake sees it.

* :mod:`~eventlake.dbt.project`: where the project is, the ``DbtProject``, its manifest and dbt's environment;
* :mod:`~eventlake.dbt.nodes`: what a manifest node is called: its layer and its Dagster asset key (no Dagster import);
* :mod:`~eventlake.dbt.translator`: the ``DagsterDbtTranslator`` that applies those names to the asset graph.

The Dagster assets built from it are in :mod:`eventlake.assets.dbt`. (This package is
``eventlake.dbt``; a top-level ``dbt`` package would shadow dbt-core.)
"""
