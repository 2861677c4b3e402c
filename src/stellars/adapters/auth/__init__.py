"""NativeAuthenticator, made to work on JupyterHub 5 and 6."""

from .native import StellarsNativeAuthenticator

__all__ = ["StellarsNativeAuthenticator"]
