"""The comparison report: `genforge report` (build.py) and `genforge study` (studies.py)."""
