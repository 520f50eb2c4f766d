"""Evaluation: the domain featurizer, torch-fidelity metrics, diversity, two-sample test.

`genforge featurize` trains the domain classifier (featurizer.py); `genforge
evaluate --family X` writes metrics/X.json (evaluate.py). `score_model` re-scores
any model against the current data; `FidCurve` (curve.py) records FID during training.
"""
