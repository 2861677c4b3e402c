"""The platform's SwarmSpawner for a test hub that runs outside the swarm.

In the tests the hub and its proxy run on the host, which is not on the swarm's overlay network
(a deployment runs them as services on it; docs/deploy.md). So each lab also publishes its port
on its own node (host mode: a port the node's engine picks), and the hub reaches it at the
node's address. Everything else is the product's PlatformSwarmSpawner, placement included.
"""

from __future__ import annotations

from typing import Any

from traitlets import default

from stellars.adapters.jupyterhub.plugin.swarm_spawner import PlatformSwarmSpawner


class PublishedSwarmSpawner(PlatformSwarmSpawner):
    """PlatformSwarmSpawner whose lab is reached at its node's address and published port."""

    @default("extra_endpoint_spec")
    def _default_endpoint_spec(self) -> dict[str, Any]:
        return {"mode": "dnsrr", "ports": {None: (self.port, "tcp", "host")}}

    async def get_ip_and_port(self) -> tuple[str, int]:
        task = await self.get_task()
        if task is None:
            raise RuntimeError(f"service {self.service_name} has no task")
        nodes = {node["ID"]: node for node in await self.docker("nodes")}
        address = nodes[task["NodeID"]]["Status"]["Addr"]
        for port in task["Status"].get("PortStatus", {}).get("Ports", []):
            if port.get("TargetPort") == self.port:
                return address, int(port["PublishedPort"])
        raise RuntimeError(f"service {self.service_name} publishes no port {self.port}")
