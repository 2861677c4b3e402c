"""stellars-hub: a managed multi-user data-science platform on JupyterHub and Docker."""

__version__ = "0.1.0"
