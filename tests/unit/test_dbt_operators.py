"""dbt runs only through cosmos (issue 19 item 4): the marts publish and the docs site are cosmos
operators of the DAG with the same profile mapping (the `medidash_warehouse` connection) as
the models, and no MediDash code starts dbt in a subprocess of its own during a run."""

from __future__ import annotations

import importlib.util

import pytest

from medidash import settings


@pytest.fixture(scope="module")
def dag():
    if not (settings.DBT_PROJECT_DIR / "target" / "manifest.json").exists():
        pytest.skip("no compiled dbt manifest (make install compiles it)")
    path = settings.DAGS_DIR / "medidash_refresh.py"
    spec = importlib.util.spec_from_file_location("medidash_refresh_for_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.medidash_refresh_dag


def test_the_swap_and_the_docs_are_cosmos_operators_on_the_models_profile(dag):
    from cosmos.operators.local import (
        DbtDocsLocalOperator,
        DbtLocalBaseOperator,
        DbtRunOperationLocalOperator,
    )

    swap, docs = dag.get_task("publish_marts"), dag.get_task("dbt_docs")
    assert isinstance(swap, DbtRunOperationLocalOperator) and swap.macro_name == "swap_marts"
    assert isinstance(docs, DbtDocsLocalOperator) and "--static" in docs.dbt_cmd_flags
    assert docs.vars == {"document_published_marts": True}
    # the callback is a dotted name, resolved only when the task runs: it must name a function
    module, _, name = docs.callback.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name)), docs.callback
    models = [
        t for t in dag.tasks if t.task_id.endswith("_model_build") and t.task_id.startswith("dbt.")
    ]
    assert models and all(isinstance(t, DbtLocalBaseOperator) for t in models)
    for operator in (swap, docs):
        mapping, model_mapping = (
            operator.profile_config.profile_mapping,
            models[0].profile_config.profile_mapping,
        )
        assert type(mapping) is type(model_mapping)
        assert mapping.conn_id == model_mapping.conn_id == "medidash_warehouse"
        assert mapping.profile_args == model_mapping.profile_args
        assert operator.profile_config.profile_name == models[0].profile_config.profile_name
        assert operator.invocation_mode == models[0].invocation_mode


def test_no_task_starts_dbt_itself():
    from medidash.orchestration import docs, tasks

    assert not hasattr(tasks, "run_dbt")
    source = (settings.PROJECT_ROOT / "medidash/orchestration/docs.py").read_text()
    assert "subprocess" not in source and "dbt_command" not in source, docs.__file__
