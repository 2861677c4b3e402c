"""pytest plugin: fixtures that bring up real backends (loaded by tests/conftest.py).

Policy for a missing backend: skipped with the reason, or a failure when the environment sets
``STELLARS_REQUIRE_BACKENDS=1`` (CI does, so a broken machine cannot pass by skipping).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

import docker
import docker.errors
import pytest

from tests.backends.browser import BrowserPage, chromium
from tests.backends.dockerhost import (
    SESSION_ID,
    remove_labelled,
    remove_stale_labelled,
    session_labels,
)
from tests.backends.dockerhost import docker_client as connect_docker
from tests.backends.errors import BackendMissing
from tests.backends.hub import JupyterHubProcess, render_minimal_config
from tests.backends.images import (
    EnsuredImage,
    ImageRecipe,
    ensure_image,
    fake_cuda_recipe,
    lab_recipe,
    tiny_recipe,
)
from tests.backends.postgres import PostgresCluster
from tests.backends.proxy import ConfigurableHttpProxy

REQUIRE_ENV = "STELLARS_REQUIRE_BACKENDS"

_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_images_key = pytest.StashKey[list[EnsuredImage]]()


def backends_required() -> bool:
    """True when a missing backend must fail the test instead of skipping it."""
    return os.environ.get(REQUIRE_ENV) == "1"


def require(name: str, why: str) -> NoReturn:
    """Skip the test because backend ``name`` is missing, or fail it when backends are required."""
    message = f"backend {name} unavailable: {why}"
    if backends_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(message)


@contextmanager
def backend(name: str) -> Iterator[None]:
    """Turn a BackendMissing raised inside the block into ``require(name, why)``."""
    try:
        yield
    except BackendMissing as exc:
        require(name, str(exc))


# --- reporting --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_reports_key, {})
    return any(report.failed for report in reports.values())


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_images_key] = []


#: Fixtures that run JupyterHub (a subprocess); their tests are marked `hub`, so CI can run
#: them again on another JupyterHub release (`make test-compat`).
HUB_FIXTURES = frozenset({"jupyterhub_factory", "jupyterhub_factory_module"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HUB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.hub)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    images: dict[str, EnsuredImage] = {}
    for image in config.stash.get(_images_key, []):
        if image.tag not in images or image.built:
            images[image.tag] = image
    if images:
        terminalreporter.section("backend images")
        for image in images.values():
            state = f"built in {image.seconds:.1f} s" if image.built else "cached"
            terminalreporter.write_line(f"{image.tag}: {state}")


def _ensure(
    request: pytest.FixtureRequest, client: docker.DockerClient, recipe: ImageRecipe
) -> str:
    with backend("docker image"):
        image = ensure_image(client, recipe)
    request.config.stash[_images_key].append(image)
    return image.tag


# --- docker -----------------------------------------------------------------------------------


#: The volume every user shares in deploy/jupyterhub_config.py (DOCKER_SPAWNER_VOLUMES).
SHARED_VOLUME_NAME = "jupyterhub_shared"
#: Leftovers of crashed runs are older than this: objects made since (by this process or a
#: sibling worker that started a little earlier) are never taken for them.
RUN_STARTED = datetime.now(timezone.utc) - timedelta(minutes=1)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A Docker client; removes labelled leftovers of crashed runs at start and this
    session's labelled objects at the end."""
    with backend("docker"):
        client = connect_docker()
    remove_stale_labelled(client, created_before=RUN_STARTED)
    shared_before = {volume.name for volume in client.volumes.list()}
    yield client
    remove_labelled(client, SESSION_ID)
    # Spawns from the deploy config mount the platform's shared volume, which DockerSpawner
    # creates unlabelled: remove it when this session made it and nothing uses it any more.
    for volume in client.volumes.list(filters={"name": SHARED_VOLUME_NAME}):
        if volume.name == SHARED_VOLUME_NAME and volume.name not in shared_before:
            with contextlib.suppress(docker.errors.APIError):
                volume.remove()
    client.close()


@pytest.fixture(scope="session")
def docker_labels() -> dict[str, str]:
    """Labels every container, volume and network created by a test must carry."""
    return session_labels()


@pytest.fixture(scope="session")
def tiny_image(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> str:
    """Tag of the busybox image (CMD sleeps an hour; uid 1000 exists)."""
    return _ensure(request, docker_client, tiny_recipe())


@pytest.fixture(scope="session")
def lab_image_factory(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient
) -> Callable[[Sequence[str]], str]:
    """Factory: the user-server image with extra pip packages, ``factory(["jupyterlab"])``."""

    def factory(extra_pip: Sequence[str] = ()) -> str:
        return _ensure(request, docker_client, lab_recipe(extra_pip))

    return factory


@pytest.fixture(scope="session")
def lab_image(lab_image_factory: Callable[[Sequence[str]], str]) -> str:
    """Tag of the user-server image: jupyterhub-singleuser of the venv's version, user jovyan."""
    return lab_image_factory(())


@pytest.fixture(scope="session")
def fake_cuda_image(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient
) -> Callable[[str], str]:
    """Factory: ``fake_cuda_image(script_text)`` returns the tag of an image whose
    ``/usr/bin/nvidia-smi`` is that script."""

    def factory(nvidia_smi_script: str) -> str:
        return _ensure(request, docker_client, fake_cuda_recipe(nvidia_smi_script))

    return factory


# --- processes --------------------------------------------------------------------------------


@pytest.fixture
def chp() -> Iterator[ConfigurableHttpProxy]:
    """A fresh configurable-http-proxy on loopback for one test."""
    proxy = ConfigurableHttpProxy()
    with backend("configurable-http-proxy"):
        proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the whole session."""
    cluster = PostgresCluster()
    with backend("postgresql"):
        cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """SQLAlchemy URL (postgresql+psycopg) of a fresh, empty database for one test."""
    return postgres.create_database()


@pytest.fixture
def minimal_hub_config(tmp_path: Path) -> Path:
    """Path of a rendered minimal jupyterhub_config.py (see tests.backends.hub)."""
    return render_minimal_config(tmp_path / "hub-config")


def _hubs(request: pytest.FixtureRequest) -> Iterator[Callable[..., JupyterHubProcess]]:
    hubs: list[JupyterHubProcess] = []

    def start(
        config_path: Path, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> JupyterHubProcess:
        hub = JupyterHubProcess(config_path, env, **kwargs)
        hubs.append(hub)
        with backend("jupyterhub"):
            hub.start()
        return hub

    yield start
    failed = _test_failed(request) or request.session.testsfailed > 0
    for hub in reversed(hubs):
        if failed and hub.log_path.exists():
            print(f"--- {hub.log_path} (last 60 lines) ---\n{hub.log_tail()}")
        hub.stop()


@pytest.fixture
def jupyterhub_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., JupyterHubProcess]]:
    """Factory: ``jupyterhub_factory(config_path, env=None, **kwargs)`` starts a hub and waits
    until it answers; every hub is stopped at teardown (log tails printed if the test failed)."""
    yield from _hubs(request)


@pytest.fixture(scope="module")
def jupyterhub_factory_module(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., JupyterHubProcess]]:
    """``jupyterhub_factory`` whose hubs live for the whole test module."""
    yield from _hubs(request)


# --- browser ----------------------------------------------------------------------------------


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[Callable[[str], BrowserPage]]:
    """Factory: ``browser_page(base_url)`` opens a page in a fresh browser context (its own
    cookies). The test fails if any page logged a JavaScript error.

    The browser lives for one test: Playwright's sync API keeps an event loop running in this
    thread while it is open, which the asyncio tests that follow must not find there.
    """
    contexts: list[Any] = []
    pages: list[BrowserPage] = []
    with backend("chromium"):
        manager = chromium()
        browser = manager.__enter__()

    def open_page(base_url: str) -> BrowserPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = BrowserPage(context.new_page(), base_url.rstrip("/"), request.node.name)
        pages.append(page)
        return page

    try:
        yield open_page
    finally:
        errors = [error for page in pages for error in page.errors]
        for context in contexts:
            context.close()
        manager.__exit__(None, None, None)
    if errors and not _test_failed(request):
        pytest.fail("JavaScript errors on the pages:\n" + "\n".join(errors), pytrace=False)


# --- pytest-xdist -------------------------------------------------------------------------------

#: Test files under this folder share one real swarm per process (tests/swarm/conftest.py), so
#: under `--dist loadfile` they go to one worker together instead of one swarm per file.
SWARM_TESTS = "tests/swarm/"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SwarmTestsTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(SWARM_TESTS):
                return SWARM_TESTS
            return super()._split_scope(nodeid)

    return SwarmTestsTogether(config, log)
