"""JupyterHub adapters: the REST API directory used by managed services."""
