"""`python -m stellars.deploy`: print the path of the shipped deploy config."""

from stellars.deploy import config_path

print(config_path())
