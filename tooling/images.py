"""Images built offline (no registry here) and cached by a tag that hashes their recipe.

- tiny: Debian's static busybox with its applet symlinks; builds in about a second.
- fake-cuda: the tiny rootfs plus a caller-given ``/usr/bin/nvidia-smi`` script.
- lab: the project's user-server image (lab/requirements.txt: JupyterLab and the notifications
  extension, plus ``jupyterhub-singleuser`` of the hub's own version; lab/overrides.json:
  JupyterLab's settings defaults), on a Debian minbase rootfs made by mmdebstrap, the way
  lab/Dockerfile builds it where a registry is reachable. uv installs the Python packages in
  the chroot when the host has it (pip otherwise), and the Debian packages of the last build
  are reused from a cache; neither changes the image or its tag.
- swarm node: Debian's docker.io on a minbase rootfs (mmdebstrap), one engine per node of the
  test swarm (tests/backends/swarm.py).
- postgres: Debian's postgresql-15 on a minbase rootfs (mmdebstrap) with an entrypoint of our
  own, the database of deploy/stack.yml on the test swarm (tests/swarm/test_stack_deploy.py).

``ensure_image`` checks ``docker image inspect`` first and builds only when the tag is missing,
under a file lock so that two pytest processes never build the same image at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from tooling.errors import INSTALL_HINT, BackendMissing

log = logging.getLogger(__name__)

TINY_REPOSITORY = "stellars-test-tiny"
FAKE_CUDA_REPOSITORY = "stellars-test-fakecuda"
LAB_REPOSITORY = "stellars-hub-lab"
REPO_ROOT = Path(__file__).resolve().parents[1]
LAB_REQUIREMENTS = REPO_ROOT / "lab" / "requirements.txt"

BUSYBOX = Path("/bin/busybox")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
LAB_SUITE = "bookworm"

# A fixed mtime keeps the tiny rootfs tar byte-identical between builds.
_MTIME = 1_700_000_000
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageRecipe:
    """How to build one image; ``fingerprint`` is everything that decides its content."""

    repository: str
    fingerprint: str
    build: Callable[[docker.DockerClient, str], None]

    @property
    def tag(self) -> str:
        digest = hashlib.sha256(self.fingerprint.encode()).hexdigest()[:12]
        return f"{self.repository}:{digest}"


@dataclass(frozen=True)
class EnsuredImage:
    """The outcome of ``ensure_image``: the tag, and whether (and how long) it was built."""

    tag: str
    built: bool
    seconds: float


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    """True when the engine has ``tag`` (the cheap `docker image inspect`)."""
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


@contextmanager
def _build_lock(repository: str) -> Iterator[None]:
    lock_path = Path(tempfile.gettempdir()) / f"{repository}.build.lock"
    with lock_path.open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def ensure_image(client: docker.DockerClient, recipe: ImageRecipe) -> EnsuredImage:
    """Return the recipe's tag, building the image first when the engine lacks it."""
    tag = recipe.tag
    if image_exists(client, tag):
        return EnsuredImage(tag, built=False, seconds=0.0)
    started = time.monotonic()
    with _build_lock(recipe.repository):
        if image_exists(client, tag):  # another process built it while we waited
            return EnsuredImage(tag, built=False, seconds=time.monotonic() - started)
        log.info("building %s", tag)
        recipe.build(client, tag)
        if not image_exists(client, tag):
            raise RuntimeError(f"building {tag} finished but the engine has no such image")
    seconds = time.monotonic() - started
    log.info("built %s in %.1f s", tag, seconds)
    return EnsuredImage(tag, built=True, seconds=seconds)


def _import(
    client: docker.DockerClient, source: bytes | Path, tag: str, changes: Sequence[str]
) -> None:
    repository, _, version = tag.rpartition(":")
    if isinstance(source, Path):
        result = client.api.import_image_from_file(
            str(source), repository=repository, tag=version, changes=list(changes)
        )
    else:
        result = client.api.import_image_from_data(
            source, repository=repository, tag=version, changes=list(changes)
        )
    if "error" in str(result).lower():
        raise RuntimeError(f"docker import of {tag} failed: {result}")


# --- tiny and fake-cuda: a busybox rootfs assembled in memory --------------------------------

_TINY_CHANGES = (f"ENV PATH={_PATH}", 'CMD ["sleep", "3600"]')
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
_GROUP = "root:x:0:\nuser:x:1000:\n"


def _static_busybox() -> Path:
    if not BUSYBOX.exists():
        raise BackendMissing(
            f"{BUSYBOX} is missing (Debian package busybox-static); {INSTALL_HINT}"
        )
    ldd = shutil.which("ldd")
    if ldd is not None:
        out = subprocess.run([ldd, str(BUSYBOX)], capture_output=True, text=True, check=False)
        if "=>" in out.stdout:
            raise BackendMissing(f"{BUSYBOX} is dynamically linked; install busybox-static")
    return BUSYBOX


def _busybox_fingerprint() -> str:
    return hashlib.sha256(_static_busybox().read_bytes()).hexdigest()


def _busybox_rootfs_tar(extra_files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """A tar of the busybox rootfs; ``extra_files`` maps a path to (content, mode)."""
    busybox = _static_busybox()
    applets = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        added: set[str] = set()

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, _MTIME, link
            if name.startswith("home/user"):
                info.uid = info.gid = 1000
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
            added.add(name)

        def add_dirs(path: str) -> None:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in added:
                    add(directory, tarfile.DIRTYPE, 0o755)

        for directory, mode in [
            ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
            ("home/user", 0o755), ("proc", 0o755), ("root", 0o700), ("sys", 0o755),
            ("tmp", 0o1777), ("var", 0o755), ("var/tmp", 0o1777),
        ]:  # fmt: skip
            add(directory, tarfile.DIRTYPE, mode)
        add("bin/busybox", tarfile.REGTYPE, 0o755, busybox.read_bytes())
        add("etc/passwd", tarfile.REGTYPE, 0o644, _PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, _GROUP.encode())
        for path, (content, mode) in sorted(extra_files.items()):
            add_dirs(path)
            add(path, tarfile.REGTYPE, mode, content)
        for applet in applets:
            applet = applet.lstrip("/")
            if applet not in added:
                add_dirs(applet)
                add(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
    return buffer.getvalue()


def tiny_recipe() -> ImageRecipe:
    """The tiny image: busybox, /tmp, root and uid 1000 (``user``); CMD sleeps an hour."""
    fingerprint = json.dumps(
        {
            "recipe": "tiny-v1",
            "busybox": _busybox_fingerprint(),
            "passwd": _PASSWD,
            "group": _GROUP,
            "changes": _TINY_CHANGES,
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        _import(client, _busybox_rootfs_tar({}), tag, _TINY_CHANGES)

    return ImageRecipe(TINY_REPOSITORY, fingerprint, build)


def fake_cuda_recipe(nvidia_smi_script: str) -> ImageRecipe:
    """The tiny rootfs plus an executable ``/usr/bin/nvidia-smi`` with the given text.

    A script without a ``#!`` line gets ``#!/bin/sh``. CMD runs ``nvidia-smi``.
    """
    script = nvidia_smi_script
    if not script.startswith("#!"):
        script = "#!/bin/sh\n" + script
    changes = (f"ENV PATH={_PATH}", 'CMD ["nvidia-smi"]')
    fingerprint = json.dumps(
        {
            "recipe": "fakecuda-v1",
            "tiny": tiny_recipe().fingerprint,
            "script": script,
            "changes": changes,
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        rootfs = _busybox_rootfs_tar({"usr/bin/nvidia-smi": (script.encode(), 0o755)})
        _import(client, rootfs, tag, changes)

    return ImageRecipe(FAKE_CUDA_REPOSITORY, fingerprint, build)


# --- lab: mmdebstrap + uv (or pip) in the chroot ---------------------------------------------

_LAB_INCLUDE = ("python3", "python3-venv", "ca-certificates", "tini")
_LAB_CHANGES = (
    f"ENV PATH=/opt/venv/bin:{_PATH}",
    "ENV LANG=C.UTF-8",
    "ENV HOME=/home/jovyan",
    "ENV SHELL=/bin/bash",
    "USER 1000",
    "WORKDIR /home/jovyan",
    "EXPOSE 8888",
    'ENTRYPOINT ["/usr/bin/tini", "--"]',
    'CMD ["jupyterhub-singleuser"]',
)
#: JupyterLab's settings defaults (lab/overrides.json), where JupyterLab 4 reads them.
LAB_OVERRIDES = REPO_ROOT / "lab" / "overrides.json"
LAB_OVERRIDES_PATH = "/opt/venv/share/jupyter/lab/settings/overrides.json"
#: uv for the chroot's installs: the one `make venv` put in .tooling/uv, else one on PATH.
TOOLING_UV = REPO_ROOT / ".tooling" / "uv" / "bin" / "uv"
#: The Debian packages of the last lab build, reused by the next one (apt downloads only what
#: changed). Only this host's build reads it: the image's content never depends on it.
LAB_APT_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stellars-hub" / "lab-debs"
)


def debian_mirror(sources: Path = DEBIAN_SOURCES) -> str:
    """The first Debian mirror named in the host's deb822 apt sources (fallback: deb.debian.org)."""
    try:
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and line.split()[1:]:
                return line.split()[1]
    except OSError:
        pass
    return DEFAULT_MIRROR


def host_uv() -> Path | None:
    """The uv binary the lab build copies into its chroot, or None (pip installs instead)."""
    if TOOLING_UV.is_file() and os.access(TOOLING_UV, os.X_OK):
        return TOOLING_UV
    found = shutil.which("uv")
    return Path(found) if found else None


@dataclass(frozen=True)
class LabBuildTools:
    """Host paths the lab build's hooks use: the CA bundle, the overrides file, uv (None: pip)
    and the cache of Debian packages (None: nothing kept)."""

    host_ca: str
    overrides: str
    uv: str | None = None
    apt_cache: str | None = None


def _lab_hooks(pip_packages: Sequence[str], tools: LabBuildTools) -> list[str]:
    # pip and uv in the chroot must trust the host's CA bundle (egress goes through an
    # intercepting proxy) and must not inherit the host's PIP_*/UV_* variables: hence `env -i`,
    # `--cert` and SSL_CERT_FILE. Either installer gives the same venv, with pip in it. Its
    # bytecode is compiled once, here: /opt/venv is root's, so a lab (uid 1000) cannot cache
    # bytecode there and would compile JupyterLab's modules again at every start. The pycs are
    # checked by hash, not by mtime: mmdebstrap's tar clamps every mtime to the build's start,
    # which would make mtime-checked pycs stale (and silently unused).
    pip = " ".join(shlex.quote(package) for package in pip_packages)
    clean_env = "/usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root"
    hooks = [f'cp {shlex.quote(tools.host_ca)} "$1/tmp/host-ca.pem"']
    if tools.apt_cache:  # this build's packages replace the last build's in the cache
        cache = shlex.quote(tools.apt_cache)
        hooks.append(
            f'rm -f {cache}/*.deb; cp -p "$1"/var/cache/apt/archives/*.deb {cache}/ || true'
        )
    hooks.append('chroot "$1" python3 -m venv /opt/venv')
    if tools.uv:
        hooks += [
            f'install -m 0755 {shlex.quote(tools.uv)} "$1/tmp/uv"',
            f'chroot "$1" {clean_env} SSL_CERT_FILE=/tmp/host-ca.pem UV_CACHE_DIR=/tmp/uv-cache '
            "UV_PYTHON_DOWNLOADS=never /tmp/uv pip install -q --python /opt/venv/bin/python "
            f"--link-mode=copy {pip}",
        ]
    else:
        hooks.append(
            f'chroot "$1" {clean_env} /opt/venv/bin/pip install -q --no-cache-dir --no-compile '
            f"--disable-pip-version-check --cert /tmp/host-ca.pem {pip}"
        )
    return [
        *hooks,
        # A module that does not compile (code for another Python) is skipped, as pip does.
        'chroot "$1" /opt/venv/bin/python -m compileall -qq -j 0 '
        "--invalidation-mode checked-hash /opt/venv/lib || true",
        f'install -D -m 0644 {shlex.quote(tools.overrides)} "$1{LAB_OVERRIDES_PATH}"',
        'chroot "$1" useradd -m -u 1000 -s /bin/bash jovyan',
        # Mount points of the per-user and shared volumes: a new named volume takes the
        # ownership of the directory it is mounted on, and the lab runs as jovyan.
        'chroot "$1" install -d -o 1000 -g 1000 /home/jovyan/work /home/jovyan/.cache /mnt/shared',
        'rm -rf "$1/tmp/host-ca.pem" "$1/tmp/uv" "$1/tmp/uv-cache" "$1/root/.cache"',
    ]


def lab_requirements(path: Path = LAB_REQUIREMENTS) -> list[str]:
    """The requirement lines of lab/requirements.txt (comments and blank lines dropped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def lab_pip_packages(
    extra_pip: Sequence[str] = (), jupyterhub_version: str | None = None
) -> list[str]:
    """The pip requirements of the lab image: jupyterhub pinned to the hub's version, the
    project's lab requirements, and any extras."""
    if jupyterhub_version is None:
        import jupyterhub

        jupyterhub_version = jupyterhub.__version__
    base = [f"jupyterhub=={jupyterhub_version}", *lab_requirements()]
    return base + sorted(set(extra_pip) - set(base))


def lab_recipe(extra_pip: Sequence[str] = (), jupyterhub_version: str | None = None) -> ImageRecipe:
    """The user-server image; ``extra_pip`` (e.g. ``["jupyterlab"]``) is part of the tag's hash.

    The tag hashes what decides the image's content (Debian suite and packages, the pip
    requirements, JupyterLab's settings overrides, the image config), not how this host
    builds it: uv or pip, warm caches or none, give the same tag.
    """
    pip_packages = lab_pip_packages(extra_pip, jupyterhub_version)
    fingerprint = json.dumps(
        {
            "recipe": "lab-v3",
            "suite": LAB_SUITE,
            "include": _LAB_INCLUDE,
            "pip": pip_packages,
            "overrides": LAB_OVERRIDES.read_text(),
            "hooks": _lab_hooks(pip_packages, LabBuildTools("<host-ca>", "<overrides>")),
            "changes": _LAB_CHANGES,
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        if not HOST_CA_BUNDLE.exists():
            raise BackendMissing(f"{HOST_CA_BUNDLE} is missing (package ca-certificates)")
        uv = host_uv()
        apt_cache: Path | None = LAB_APT_CACHE
        try:
            LAB_APT_CACHE.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a read-only home: build without the cache
            log.info("building without a package cache: %s", error)
            apt_cache = None
        with tempfile.TemporaryDirectory(prefix="stellars-lab-build-") as workdir:
            work = Path(workdir)
            host_ca = work / "host-ca.pem"
            shutil.copyfile(HOST_CA_BUNDLE, host_ca)
            tools = LabBuildTools(
                host_ca=str(host_ca),
                overrides=str(LAB_OVERRIDES),
                uv=str(uv) if uv else None,
                apt_cache=str(apt_cache) if apt_cache else None,
            )
            setup = []
            if apt_cache:  # the last build's packages: apt downloads only what changed
                cache = shlex.quote(str(apt_cache))
                setup = [
                    f'mkdir -p "$1/var/cache/apt/archives"; '
                    f'cp -p {cache}/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true'
                ]
            rootfs = _debian_rootfs_tar(
                work, _LAB_INCLUDE, _lab_hooks(pip_packages, tools), setup_hooks=setup
            )
            _import(client, rootfs, tag, _LAB_CHANGES)

    return ImageRecipe(LAB_REPOSITORY, fingerprint, build)


def ensure_tiny_image(client: docker.DockerClient) -> str:
    """Tag of the tiny busybox image, built if missing."""
    return ensure_image(client, tiny_recipe()).tag


def ensure_fake_cuda_image(client: docker.DockerClient, nvidia_smi_script: str) -> str:
    """Tag of a fake-cuda image whose ``nvidia-smi`` is the given script, built if missing."""
    return ensure_image(client, fake_cuda_recipe(nvidia_smi_script)).tag


def ensure_lab_image(client: docker.DockerClient, extra_pip: Sequence[str] = ()) -> str:
    """Tag of the user-server image (plus ``extra_pip``), built if missing (about 40 s)."""
    return ensure_image(client, lab_recipe(extra_pip)).tag


# --- swarm node: a Docker engine in a container (tests/backends/swarm.py) ---------------------
#
# Each node of the test swarm is a container running its own dockerd, made from Debian's
# docker.io on a minbase rootfs. Its engine listens on its socket and, for the test tooling on
# the host, on plain TCP 2375: only ever on a network the test creates and removes again.

SWARM_NODE_REPOSITORY = "stellars-test-swarmnode"
SWARM_NODE_ENGINE_PORT = 2375
_SWARM_NODE_INCLUDE = ("docker.io", "iptables", "ca-certificates", "procps", "iproute2")
_SWARM_NODE_CHANGES = (
    f"ENV PATH={_PATH}",
    'CMD ["dockerd", "--host", "unix:///var/run/docker.sock", '
    f'"--host", "tcp://0.0.0.0:{SWARM_NODE_ENGINE_PORT}"]',
)


def swarm_node_recipe() -> ImageRecipe:
    """The node image of the test swarm: Debian bookworm minbase with docker.io (dockerd,
    containerd, runc), iptables and iproute2; CMD runs dockerd on its socket and on TCP 2375."""
    fingerprint = json.dumps(
        {
            "recipe": "swarmnode-v1",
            "suite": LAB_SUITE,
            "include": _SWARM_NODE_INCLUDE,
            "changes": _SWARM_NODE_CHANGES,
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        with tempfile.TemporaryDirectory(prefix="stellars-swarmnode-") as workdir:
            rootfs = _debian_rootfs_tar(Path(workdir), _SWARM_NODE_INCLUDE, hooks=())
            _import(client, rootfs, tag, _SWARM_NODE_CHANGES)

    return ImageRecipe(SWARM_NODE_REPOSITORY, fingerprint, build)


def ensure_swarm_node_image(client: docker.DockerClient) -> str:
    """Tag of the swarm node image, built if missing (about half a minute, 450 MB)."""
    return ensure_image(client, swarm_node_recipe()).tag


# --- postgres: Debian's PostgreSQL 15 with an entrypoint of our own ---------------------------
#
# deploy/stack.yml names a PostgreSQL image (postgres:16 by default); none can be pulled here, so
# the stack deploy test (tests/swarm/test_stack_deploy.py) runs this one, which implements the
# part of the official image's contract the stack uses. An offline site can build it too, with
# `ensure_postgres_image` (docs/deploy.md, "Docker Swarm").

POSTGRES_REPOSITORY = "stellars-postgres"
POSTGRES_MAJOR = 15  # Debian bookworm's PostgreSQL
POSTGRES_BIN = f"/usr/lib/postgresql/{POSTGRES_MAJOR}/bin"
POSTGRES_DATA = "/var/lib/postgresql/data"
POSTGRES_ENTRYPOINT = "/usr/local/bin/stellars-postgres-entrypoint"
#: The server's socket directory, the postgres user's home: mmdebstrap empties /run, where
#: Debian's build puts it, and the image runs as postgres, who cannot make it there again.
#: PGHOST points psql at it (the entrypoint's, and `docker exec ... psql`).
POSTGRES_SOCKETS = "/var/lib/postgresql"
_POSTGRES_INCLUDE = (f"postgresql-{POSTGRES_MAJOR}",)
_POSTGRES_CHANGES = (
    f"ENV PATH={POSTGRES_BIN}:{_PATH}",
    "ENV LANG=C.UTF-8",
    f"ENV PGDATA={POSTGRES_DATA}",
    f"ENV PGHOST={POSTGRES_SOCKETS}",
    "USER postgres",
    "EXPOSE 5432",
    f'ENTRYPOINT ["{POSTGRES_ENTRYPOINT}"]',
    'CMD ["postgres"]',
)

#: The image's entrypoint (sh). On a data directory without PG_VERSION it makes the cluster:
#: POSTGRES_USER (default postgres) the superuser with the password of POSTGRES_PASSWORD_FILE or
#: POSTGRES_PASSWORD (required), scram-sha-256 for every network client, local socket
#: connections trusted (inside the container only), POSTGRES_DB (default POSTGRES_USER)
#: created, then every /docker-entrypoint-initdb.d/*.sql run in name order as POSTGRES_USER in
#: POSTGRES_DB, against a server that listens on no network address meanwhile. An existing
#: data directory is used as it is. Then it runs its arguments (`postgres`, listening on all
#: addresses) as PID 1, as the postgres user the image runs as.
POSTGRES_ENTRYPOINT_SCRIPT = r"""#!/bin/sh
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

fail() {
    echo "stellars-postgres: $*" >&2
    exit 1
}

if [ "${1:-}" = "postgres" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        [ -r "$POSTGRES_PASSWORD_FILE" ] || fail "cannot read POSTGRES_PASSWORD_FILE"
        POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
    fi
    [ -n "${POSTGRES_PASSWORD:-}" ] || fail "set POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD"
    POSTGRES_USER="${POSTGRES_USER:-postgres}"
    POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA"
    # The password reaches initdb through a file only this user reads, never an argument.
    umask 077
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "unix_socket_directories = '${PGHOST:-/var/lib/postgresql}'" >> "$PGDATA/postgresql.conf"
    # Meanwhile the server answers on its socket only: nothing connects before it is ready.
    pg_ctl --wait --silent --options="-c listen_addresses=''" start
    if [ "$POSTGRES_DB" != "postgres" ]; then
        psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
            --set=db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
    for script in /docker-entrypoint-initdb.d/*.sql; do
        [ -f "$script" ] || continue
        echo "stellars-postgres: running $script"
        psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" \
            --dbname="$POSTGRES_DB" --file="$script"
    done
    pg_ctl --wait --silent --mode=fast stop
    echo "stellars-postgres: the new cluster is ready"
fi
exec "$@"
"""


def _postgres_hooks(entrypoint: str) -> list[str]:
    # The package's postinst makes a cluster "main" of its own (postgresql-common's default);
    # this image keeps its one cluster in PGDATA, so that one goes. PGDATA's directory is
    # postgres's: a new named volume mounted there takes its owner and mode.
    return [
        f'rm -rf "$1/var/lib/postgresql/{POSTGRES_MAJOR}" "$1/etc/postgresql/{POSTGRES_MAJOR}"',
        f'chroot "$1" install -d -o postgres -g postgres -m 0700 {POSTGRES_DATA}',
        'mkdir -p "$1/docker-entrypoint-initdb.d"',
        f'install -m 0755 {shlex.quote(entrypoint)} "$1{POSTGRES_ENTRYPOINT}"',
    ]


def postgres_recipe() -> ImageRecipe:
    """A PostgreSQL image made offline: Debian bookworm minbase with postgresql-15 and
    ``POSTGRES_ENTRYPOINT_SCRIPT`` (the official image's POSTGRES_USER, POSTGRES_DB,
    POSTGRES_PASSWORD(_FILE), PGDATA and initdb.d/*.sql), running as the postgres user."""
    fingerprint = json.dumps(
        {
            "recipe": "postgres-v1",
            "suite": LAB_SUITE,
            "include": _POSTGRES_INCLUDE,
            "hooks": _postgres_hooks("<entrypoint>"),
            "entrypoint": POSTGRES_ENTRYPOINT_SCRIPT,
            "changes": _POSTGRES_CHANGES,
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        with tempfile.TemporaryDirectory(prefix="stellars-postgres-") as workdir:
            work = Path(workdir)
            entrypoint = work / "entrypoint.sh"
            entrypoint.write_text(POSTGRES_ENTRYPOINT_SCRIPT)
            rootfs = _debian_rootfs_tar(work, _POSTGRES_INCLUDE, _postgres_hooks(str(entrypoint)))
            _import(client, rootfs, tag, _POSTGRES_CHANGES)

    return ImageRecipe(POSTGRES_REPOSITORY, fingerprint, build)


def ensure_postgres_image(client: docker.DockerClient) -> str:
    """Tag of the offline PostgreSQL image, built if missing (about a minute, 150 MB)."""
    return ensure_image(client, postgres_recipe()).tag


# --- hub: the root Dockerfile, on a Debian base bootstrapped offline -------------------------
#
# No registry here, so the Dockerfile's BASE_IMAGE (python:3.12-slim-bookworm on a normal host)
# is replaced by a minbase rootfs with everything the Dockerfile would otherwise install with
# apt (python3-venv, nodejs, npm, tini). The base also carries the host's CA bundle, and
# PIP_CERT and NODE_EXTRA_CA_CERTS pointing at it, so pip and npm in `docker build` trust the
# intercepting egress proxy; the Dockerfile itself stays host-agnostic.

HUB_BASE_REPOSITORY = "stellars-hub-base"
HUB_REPOSITORY = "stellars-hub"
HUB_BASE_CA = "/etc/ssl/host-ca-bundle.pem"
#: What the root Dockerfile copies, plus itself: the whole context the tooling sends and hashes.
HUB_CONTEXT = (
    "Dockerfile", "pyproject.toml", "README.md", "src", "deploy", "tests", "tooling", "docs",
)  # fmt: skip
#: Seconds one `docker build` of the hub may take (cold: about five minutes on two cores).
HUB_BUILD_TIMEOUT = 3600

_CONTEXT_SKIP_DIRS = frozenset(
    {"__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}
)
_CONTEXT_SKIP_SUFFIXES = (".pyc", ".pyo", ".sqlite", ".sqlite-wal", ".sqlite-shm")
# Debian's npm package drags in some 330 node-* packages (six minutes of mmdebstrap here); npm's
# own release tarball is one file, so the base takes Debian's nodejs and npm from the registry.
_HUB_BASE_INCLUDE = ("python3", "python3-venv", "nodejs", "ca-certificates", "tini")
HUB_BASE_NPM = (
    "https://registry.npmjs.org/npm/-/npm-10.9.9.tgz",  # supports Node.js ^18.17 (bookworm: 18.20)
    "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==",
)
_HUB_BASE_CHANGES = (
    f"ENV PATH={_PATH}",
    "ENV LANG=C.UTF-8",
    f"ENV PIP_CERT={HUB_BASE_CA}",
    f"ENV NODE_EXTRA_CA_CERTS={HUB_BASE_CA}",
    'CMD ["python3"]',
)


def _hub_base_hooks(host_ca: str, npm_tarball: str) -> list[str]:
    # The bundle twice: a file of its own (what PIP_CERT and NODE_EXTRA_CA_CERTS name, which no
    # package rewrites) and over Debian's bundle (Python's default context, apt over https).
    # npm goes where a global npm install would put it, /usr/local/lib/node_modules/npm.
    ca, npm = shlex.quote(host_ca), shlex.quote(npm_tarball)
    return [
        f'install -m 0644 {ca} "$1{HUB_BASE_CA}"',
        f'install -m 0644 {ca} "$1/etc/ssl/certs/ca-certificates.crt"',
        'mkdir -p "$1/usr/local/lib/node_modules/npm" "$1/usr/local/bin"',
        f"tar -xzf {npm} --no-same-owner --strip-components=1 "
        '-C "$1/usr/local/lib/node_modules/npm"',
        'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"',
        'ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
        'chroot "$1" npm --version',
    ]


def _download(url: str, integrity: str, target: Path) -> None:
    """Fetch ``url`` into ``target`` (through the host's CA bundle) and check its npm-style
    ``sha512-<base64>`` integrity."""
    import base64
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(HOST_CA_BUNDLE))
    with urllib.request.urlopen(url, timeout=120, context=context) as answer:
        data = answer.read()
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"{url}: integrity {algorithm}-{actual} is not {integrity}")
    target.write_bytes(data)


def _debian_rootfs_tar(
    work: Path, include: Sequence[str], hooks: Sequence[str], setup_hooks: Sequence[str] = ()
) -> Path:
    """A Debian minbase rootfs (``LAB_SUITE``) as a tar in ``work``, made by mmdebstrap.

    ``setup_hooks`` run before the packages are downloaded, ``hooks`` after they are installed.
    dpkg skips its fsync calls (``force-unsafe-io``): the rootfs is a throwaway until the tar
    is imported, and syncing each of its files costs tens of seconds on a busy disk. Every
    downloaded package stays in /var/cache/apt/archives until mmdebstrap's final cleanup, so
    that a hook may keep them for the next build.
    """
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise BackendMissing(f"mmdebstrap is not installed; {INSTALL_HINT}")
    rootfs = work / "rootfs.tar"
    command = [
        mmdebstrap,
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(include)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=force-unsafe-io",
        "--skip=essential/unlink",  # every package stays in apt's cache until the end
        *(f"--setup-hook={hook}" for hook in setup_hooks),
        *(f"--customize-hook={hook}" for hook in hooks),
        LAB_SUITE,
        str(rootfs),
        debian_mirror(),
    ]
    build_log = work / "mmdebstrap.log"
    with build_log.open("wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        lines = build_log.read_text(errors="replace").splitlines()[-40:]
        raise RuntimeError(f"mmdebstrap failed with rc {done.returncode}:\n" + "\n".join(lines))
    return rootfs


def _host_ca_digest() -> str:
    if not HOST_CA_BUNDLE.exists():
        raise BackendMissing(f"{HOST_CA_BUNDLE} is missing (package ca-certificates)")
    return hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()


def hub_base_recipe() -> ImageRecipe:
    """The hub Dockerfile's BASE_IMAGE, made offline: Debian bookworm minbase with Python 3.11
    (venv), Node.js 18, npm 10 (the registry's tarball), tini, and the host's CA bundle for pip
    and npm."""
    fingerprint = json.dumps(
        {
            "recipe": "hub-base-v1",
            "suite": LAB_SUITE,
            "include": _HUB_BASE_INCLUDE,
            "hooks": _hub_base_hooks("<host-ca>", "<npm>"),
            "npm": HUB_BASE_NPM,
            "changes": _HUB_BASE_CHANGES,
            "host_ca": _host_ca_digest(),  # baked in: a new bundle means a new base
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        with tempfile.TemporaryDirectory(prefix="stellars-hub-base-") as workdir:
            work = Path(workdir)
            host_ca = work / "host-ca.pem"
            shutil.copyfile(HOST_CA_BUNDLE, host_ca)
            npm = work / "npm.tgz"
            _download(*HUB_BASE_NPM, npm)
            hooks = _hub_base_hooks(str(host_ca), str(npm))
            rootfs = _debian_rootfs_tar(work, _HUB_BASE_INCLUDE, hooks)
            _import(client, rootfs, tag, _HUB_BASE_CHANGES)

    return ImageRecipe(HUB_BASE_REPOSITORY, fingerprint, build)


def hub_context_files(root: Path = REPO_ROOT) -> list[str]:
    """The files (relative POSIX paths, sorted) the hub build sends to the engine: the
    Dockerfile and what it copies, without caches and local databases."""
    found: list[str] = []
    for entry in HUB_CONTEXT:
        path = root / entry
        if path.is_file():
            found.append(entry)
            continue
        for candidate in path.rglob("*"):
            relative = candidate.relative_to(root)
            if _CONTEXT_SKIP_DIRS & set(relative.parts) or not candidate.is_file():
                continue
            if candidate.name.endswith(_CONTEXT_SKIP_SUFFIXES):
                continue
            found.append(relative.as_posix())
    return sorted(found)


def _file_mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & 0o111 else 0o644


def hub_context_digest(root: Path = REPO_ROOT, files: Sequence[str] | None = None) -> str:
    """sha256 of the hub build context: every file's path, mode and content."""
    digest = hashlib.sha256()
    for name in hub_context_files(root) if files is None else files:
        path = root / name
        digest.update(f"{name}\0{_file_mode(path):o}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def hub_context_tar(root: Path = REPO_ROOT, files: Sequence[str] | None = None) -> bytes:
    """The hub build context as an uncompressed tar (fixed mtimes, root-owned files)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in hub_context_files(root) if files is None else files:
            path = root / name
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), _file_mode(path), _MTIME
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _docker_build(
    client: docker.DockerClient, context: bytes, tag: str, build_args: Mapping[str, str]
) -> None:
    """`docker build` of a context tar through the engine's API, the log kept in a file."""
    digest = tag.rpartition(":")[2]
    log_path = Path(tempfile.gettempdir()) / f"{HUB_REPOSITORY}-{digest}.build.log"
    lines: list[str] = []
    with log_path.open("w") as build_log:
        stream = client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            tag=tag,
            buildargs=dict(build_args),
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=HUB_BUILD_TIMEOUT,
        )
        error = ""
        for chunk in stream:
            text = str(chunk.get("stream") or chunk.get("status") or "")
            if "error" in chunk:
                error = str(chunk.get("error"))
                text = f"ERROR: {error}\n"
            if text:
                build_log.write(text)
                build_log.flush()
                lines.extend(text.splitlines())
                del lines[:-60]
    if error:
        raise RuntimeError(
            f"docker build of {tag} failed: {error}\n(full log: {log_path})\n" + "\n".join(lines)
        )


#: The label the Dockerfile puts on its builder stage (kept untagged by the classic builder).
HUB_BUILDER_LABEL = "io.stellars-hub.stage=builder"


def prune_superseded_hub_images(client: docker.DockerClient, keep: str) -> list[str]:
    """Remove the hub images older builds of a changed tree left: every other
    ``HUB_REPOSITORY`` tag, and every untagged builder-stage image but the newest (the layer
    cache of the next build). Images in use by a container stay. Returns what was removed."""
    removed: list[str] = []
    doomed = [
        tag
        for image in client.images.list(name=HUB_REPOSITORY)
        for tag in image.tags
        if tag.startswith(f"{HUB_REPOSITORY}:") and tag != keep
    ]
    builders = client.images.list(filters={"dangling": True, "label": HUB_BUILDER_LABEL})
    builders.sort(key=lambda image: str(image.attrs.get("Created", "")), reverse=True)
    doomed += [image.id for image in builders[1:]]
    for reference in doomed:
        try:
            client.images.remove(reference)
        except docker.errors.APIError as error:  # in use, or removed by another process
            log.info("kept %s: %s", reference, error.explanation or error)
        else:
            removed.append(reference)
    return removed


def hub_recipe(base_image: str, jupyterhub_version: str | None = None) -> ImageRecipe:
    """The root Dockerfile built on ``base_image`` (e.g. ``ensure_hub_base_image``'s tag), with
    JupyterHub pinned to ``jupyterhub_version`` (default: this environment's, which is the one
    ``lab_recipe`` gives jupyterhub-singleuser). The tag hashes the build context and the
    arguments, so an unchanged tree reuses the image; a changed one rebuilds from the engine's
    layer cache (the dependency layers stay while pyproject.toml is unchanged), and the images
    of the superseded tree are removed then."""
    if jupyterhub_version is None:
        import jupyterhub

        jupyterhub_version = jupyterhub.__version__
    build_args = {"BASE_IMAGE": base_image, "JUPYTERHUB_VERSION": jupyterhub_version}
    files = hub_context_files()
    fingerprint = json.dumps(
        {"recipe": "hub-v1", "args": build_args, "context": hub_context_digest(files=files)},
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        _docker_build(client, hub_context_tar(files=files), tag, build_args)
        prune_superseded_hub_images(client, keep=tag)

    return ImageRecipe(HUB_REPOSITORY, fingerprint, build)


def ensure_hub_base_image(client: docker.DockerClient) -> str:
    """Tag of the hub's offline base image, built if missing (about a minute)."""
    return ensure_image(client, hub_base_recipe()).tag


def ensure_hub_image(client: docker.DockerClient, jupyterhub_version: str | None = None) -> str:
    """Tag of the hub image from the root Dockerfile on the offline base, built if missing
    (cold: several minutes, the unit and contract suites included; unchanged tree: 0 s)."""
    return ensure_image(client, hub_recipe(ensure_hub_base_image(client), jupyterhub_version)).tag


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tooling.images lab`: the project's lab image for this environment's JupyterHub,
    built when the engine lacks it. `make run` starts it early on a first start, beside the
    venv's installation; tooling/run.py then finds the image, or waits for the build's lock."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tooling.images")
    parser.add_argument("image", choices=["lab"], help="the image to ensure")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    client = docker.from_env(version="auto", timeout=HUB_BUILD_TIMEOUT)
    ensured = ensure_image(client, lab_recipe())
    outcome = f"built in {ensured.seconds:.0f} s" if ensured.built else "already there"
    print(f"{ensured.tag}: {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
