"""The model registry: the promotion gate, the `champion`/`previous` aliases, rollback."""
