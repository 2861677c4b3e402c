"""End-to-end tests of what the project ships: the hub container image built from the root
Dockerfile, run the way compose.yml runs it."""
