"""Entry points of processes the hub starts (managed services). Each `main()` is the composition
root of its own process: it alone reads what JupyterHub hands the service in its environment."""
