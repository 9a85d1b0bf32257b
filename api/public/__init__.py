"""The public face of the API: open data and the warnings feed, no token, its own OpenAPI."""
