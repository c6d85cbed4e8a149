{#- Publishing: the marts are built and tested in `marts_build`, then moved into `marts` in one
    transaction. Inside it each old table is dropped and the new one moved in; readers of
    `marts` wait on the lock, then resolve the names again, so they see the old set of nine
    tables or the new set, never a mix of two releases, an empty or a missing table. -#}

{#- The nine contract marts: every model configured into marts_build. -#}
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

{#- The swap as SQL text (one transaction). It first takes every old mart's lock, waiting at
    most 50 ms for each: a reader holding one table while it waits for another the swap already
    holds would otherwise deadlock with it, and PostgreSQL would abort one of the two, perhaps
    the reader. Giving up within 6 x 50 ms (before the 1 s deadlock_timeout) and trying again
    after a pause means readers only ever wait, never fail; after 5 minutes of readers holding
    the marts the publish fails with a clear error, and the marts stay as they were. -#}
{% macro swap_statements() %}
    {% set role = var('dashboard_role') %}
    {% set names = mart_names() %}
    {% set quoted = [] %}
    {% for name in names %}{% do quoted.append("'" ~ name ~ "'") %}{% endfor %}
    {% set moves = [] %}
    {% for name in names %}
        {% do moves.append('drop table if exists marts.' ~ name) %}
        {% do moves.append('alter table marts_build.' ~ name ~ ' set schema marts') %}
    {% endfor %}
    {% set role_exists = run_query("select 1 from pg_roles where rolname = '" ~ role ~ "'") %}
    {% if role_exists.rows | length > 0 %}
        {% do moves.append('grant usage on schema marts to ' ~ role) %}
        {% do moves.append('grant select on all tables in schema marts to ' ~ role) %}
    {% endif %}
    {% set sql %}
begin;
create schema if not exists marts;
do $publish$
declare
    attempt integer := 0;
    mart text;
begin
    -- only while taking the marts' locks; what follows waits as usual
    perform set_config('lock_timeout', '50ms', true);
    loop
        begin
            for mart in
                select tablename from pg_tables
                where schemaname = 'marts' and tablename = any(array[{{ quoted | join(', ') }}])
                order by tablename
            loop
                execute format('lock table marts.%I in access exclusive mode', mart);
            end loop;
            exit;
        exception when lock_not_available then
            attempt := attempt + 1;
            if attempt >= 600 then
                raise exception 'could not publish the marts: readers held them for 5 minutes';
            end if;
            perform pg_sleep(0.5 * random());
        end;
    end loop;
    perform set_config('lock_timeout', '0', true);
end
$publish$;
{{ moves | join(';\n') }};
commit;
    {% endset %}
    {{ log('publishing marts: ' ~ names | join(', '), info=true) }}
    {{ return(sql) }}
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
