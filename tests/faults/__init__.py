"""The fault matrix of issue 18: one module per scenario, on real components.

Each asserts the invariant: the champion only ever points at a version whose gate
verdict passed (or was forced), `previous` is the one it replaced, nothing is
half-written, and a rerun completes the work.

| scenario | module |
|---|---|
| MLflow server stopped between the two alias writes | test_alias_writes_server_stopped.py |
| two promotions at once (two processes) | test_two_promotions.py |
| two retrain flows started at once (one checkout, one registry) | test_two_flows_at_once.py |
| MLflow server stopped during a gate, then started again | test_gate_server_stopped.py |
| S3 stopped during push | tests/storage/test_dvc_s3.py::test_server_stopped_during_push_fails_fast_then_retry_completes |
| MLflow server stopped during training, then started again | test_mlflow_stopped_during_training.py |
| kill -9 of the flow process during training, then rerun | test_flow_killed_during_training.py |
| kill -9 of a training process, then rerun | tests/training/test_distributed.py::test_sigkill_then_resume_equals_uninterrupted (and the 2-rank DDP one) |
"""
