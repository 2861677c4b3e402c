"""NativeAuthenticator, made to work on JupyterHub 5 and 6, and its password table as the
platform's CredentialStore."""

from .credentials import NativeCredentialStore
from .native import StellarsNativeAuthenticator, native_templates

__all__ = ["NativeCredentialStore", "StellarsNativeAuthenticator", "native_templates"]
