"""A cluster policy for the whole-loop test's Airflow, as a platform team
writes one: DAGs tagged "unreviewed" are refused. Airflow reports the
violation as an import error of the DAG's file, which nbpipe's conversion
cannot foresee (the policy lives in the cluster, not in the notebook)."""
from airflow.exceptions import AirflowClusterPolicyViolation


def dag_policy(dag):
    if "unreviewed" in (dag.tags or ()):
        raise AirflowClusterPolicyViolation(
            f"DAG {dag.dag_id} is tagged unreviewed: this cluster runs reviewed pipelines only"
        )
