"""The platform's SwarmSpawner for a test hub that runs outside the swarm.

In the tests the hub and its proxy run on the host, which is not on the swarm's overlay network
(a deployment runs them as services on it; docs/deploy.md). So each lab also publishes its port
on its own node (host mode: a port the node's engine picks), and the hub reaches it at the
node's address. Everything else is the product's PlatformSwarmSpawner, placement included.
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, Unicode, default

from stellars.adapters.jupyterhub.plugin.swarm_spawner import PlatformSwarmSpawner
from stellars.domain.swarm import Placement


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


class PinnedSwarmSpawner(PublishedSwarmSpawner):
    """PublishedSwarmSpawner whose users may come with their node already recorded
    (`node_pins`: user name -> node hostname), as for users whose volumes are on that node: a
    first start then goes there through the product's placement rule instead of to the node
    with the fewest labs. Users without a pin are placed as the product places them."""

    node_pins = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="The node each user's volumes are on (user name -> node hostname).",
    )

    async def place(self) -> Placement:
        if self.swarm_node is None:
            self.swarm_node = self.node_pins.get(self.user.name)
        return await super().place()
