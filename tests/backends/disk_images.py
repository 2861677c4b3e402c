"""Images whose `stat` answers what a test says, for the engine's disk measurement
(`EngineDataDisk` runs `stat -f -c '%S %b %a'` in a container of the lab image): the tiny image
with a script as /usr/local/bin/stat, before busybox's on the PATH. Built offline from the tiny
image, named by their script, kept like the other test images."""

from __future__ import annotations

import io
import json
import tarfile

import docker

from tests.backends.images import ImageRecipe, ensure_image

FAKE_STAT_REPOSITORY = "stellars-test-fakestat"


def fake_stat_recipe(tiny_image: str, script: str) -> ImageRecipe:
    """The tiny image with `script` (its own #! line) as /usr/local/bin/stat."""
    fingerprint = json.dumps({"recipe": "fakestat-v1", "tiny": tiny_image, "script": script})

    def build(client: docker.DockerClient, tag: str) -> None:
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, text, mode in (
                ("Dockerfile", f"FROM {tiny_image}\nCOPY stat /usr/local/bin/stat\n", 0o644),
                ("stat", script, 0o755),
            ):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        client.images.build(fileobj=context, custom_context=True, tag=tag, pull=False, rm=True)

    return ImageRecipe(FAKE_STAT_REPOSITORY, fingerprint, build)


def fake_stat_image(client: docker.DockerClient, tiny_image: str, script: str) -> str:
    """The tag of the tiny image with `script` as its `stat`, built if missing."""
    return ensure_image(client, fake_stat_recipe(tiny_image, script)).tag


def stat_answering(block: int, blocks: int, available: int) -> str:
    """A `stat` script that answers the disk measurement with these three numbers."""
    return f"#!/bin/sh\necho '{block} {blocks} {available}'\n"
