"""Docker engine adapters (docker SDK): volumes, container control and container stats."""
