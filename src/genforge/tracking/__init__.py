"""MLflow helpers: tracking URI and experiments, lineage tags, parent/child runs, the
training callback and the pyfunc model that serves a checkpoint."""
