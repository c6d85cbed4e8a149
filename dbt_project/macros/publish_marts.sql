{#- Publishing: the marts are built and tested in `marts_build`, then moved into `marts` in one
    transaction. Inside it each old table is dropped and the new one moved in; readers of
    `marts` wait on the lock, then resolve the names again, so they see the old set of six
    tables or the new set, never a mix of two releases, an empty or a missing table. -#}

{#- The six contract marts: every model configured into marts_build. -#}
{% macro mart_names() %}
    {{ return(graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('config.schema', 'equalto', 'marts_build') | map(attribute='name')
        | sort | list) }}
{% endmacro %}

{#- on-run-end of every invocation: publish only when this invocation built all the marts and
    nothing failed (a failing invariant keeps the previous marts in place). Orchestrators that
    build model by model (cosmos) publish with `dbt run-operation swap_marts` instead. -#}
{% macro publish_marts(results) %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set failed = [] %}
    {% set built = [] %}
    {% for res in results %}
        {% if res.status in ['error', 'fail', 'runtime error', 'skipped'] %}
            {% do failed.append(res.node.name ~ ' (' ~ res.status ~ ')') %}
        {% elif res.node.resource_type == 'model' and res.node.config.schema == 'marts_build' %}
            {% do built.append(res.node.name) %}
        {% endif %}
    {% endfor %}
    {% if failed %}
        {{ log('marts not published; failed: ' ~ failed | join(', '), info=true) }}
    {% elif (built | sort) == mart_names() %}
        {{ return(swap_statements()) }}
    {% endif %}
    {{ return('') }}
{% endmacro %}

{#- The swap as SQL text (one transaction). -#}
{% macro swap_statements() %}
    {% set role = var('dashboard_role') %}
    {% set statements = ['begin', 'create schema if not exists marts'] %}
    {% for name in mart_names() %}
        {% do statements.append('drop table if exists marts.' ~ name) %}
        {% do statements.append('alter table marts_build.' ~ name ~ ' set schema marts') %}
    {% endfor %}
    {% set role_exists = run_query("select 1 from pg_roles where rolname = '" ~ role ~ "'") %}
    {% if role_exists.rows | length > 0 %}
        {% do statements.append('grant usage on schema marts to ' ~ role) %}
        {% do statements.append('grant select on all tables in schema marts to ' ~ role) %}
    {% endif %}
    {% do statements.append('commit') %}
    {{ log('publishing marts: ' ~ mart_names() | join(', '), info=true) }}
    {{ return(statements | join(';\n') ~ ';') }}
{% endmacro %}

{#- `dbt run-operation swap_marts`: publish whatever complete set is in marts_build. -#}
{% macro swap_marts() %}
    {% set present = run_query(
        "select table_name from information_schema.tables where table_schema = 'marts_build'"
    ).columns[0].values() | list %}
    {% set missing = [] %}
    {% for name in mart_names() %}
        {% if name not in present %}{% do missing.append(name) %}{% endif %}
    {% endfor %}
    {% if missing %}
        {{ exceptions.raise_compiler_error('cannot publish marts, not built: ' ~ missing | join(', ')) }}
    {% endif %}
    {% do run_query(swap_statements()) %}
{% endmacro %}
