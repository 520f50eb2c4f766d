"""genforge's Prefect flows (see flows/README.md).

Importing this package sets Prefect's defaults for genforge's in-process runs. Prefect
reads its settings once, when `prefect` is first imported, so they are set here, before
`flows.retrain` imports it (tests/conftest.py imports this package first for the suite).
"""

import os

# Without PREFECT_API_URL a flow starts Prefect's ephemeral server and waits 20 s for it
# by default. Its first start on a fresh PREFECT_HOME creates and migrates the database:
# measured 45-120 s on a third of one core (tests/flows/test_fresh_prefect_home.py), so a
# first `make run` on a loaded machine failed. Prefect stops waiting as soon as the
# server answers; the bound only matters for a server that never does.
EPHEMERAL_STARTUP_TIMEOUT_S = 300
os.environ.setdefault(
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_TIMEOUT_S)
)

# MLflow's INFO log lines ("Creating initial MLflow database tables", "Validating input
# example") and its artifact download bars say nothing a user can act on; its warnings and
# errors still show. (register_model's "Created version N" is a print(), and stays.) The
# stage subprocesses inherit both (genforge.dvc_repo.tool_env sets them too).
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
