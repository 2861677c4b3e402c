"""NativeAuthenticator, made to work on JupyterHub 5 and 6."""

from .native import StellarsNativeAuthenticator, native_templates

__all__ = ["StellarsNativeAuthenticator", "native_templates"]
