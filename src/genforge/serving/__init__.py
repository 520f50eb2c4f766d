"""`genforge serve`: the registry's champion over HTTP, following the alias, and its page."""
