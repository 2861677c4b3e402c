"""Adapters: one package per technology. An adapter imports the domain, the ports and its own
technology, never another adapter."""
