"""configurable-http-proxy REST API adapter."""
