"""Images built offline (no registry here) and cached by a tag that hashes their recipe.

- tiny: Debian's static busybox with its applet symlinks; builds in about a second.
- fake-cuda: the tiny rootfs plus a caller-given ``/usr/bin/nvidia-smi`` script.
- lab: the project's user-server image (lab/requirements.txt: JupyterLab and the notifications
  extension, plus ``jupyterhub-singleuser`` of the hub's own version), on a Debian minbase
  rootfs made by mmdebstrap, the way lab/Dockerfile builds it where a registry is reachable.

``ensure_image`` checks ``docker image inspect`` first and builds only when the tag is missing,
under a file lock so that two pytest processes never build the same image at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
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


# --- lab: mmdebstrap + pip in the chroot -----------------------------------------------------

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


def debian_mirror(sources: Path = DEBIAN_SOURCES) -> str:
    """The first Debian mirror named in the host's deb822 apt sources (fallback: deb.debian.org)."""
    try:
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and line.split()[1:]:
                return line.split()[1]
    except OSError:
        pass
    return DEFAULT_MIRROR


def _lab_hooks(pip_packages: Sequence[str], host_ca: str) -> list[str]:
    # pip in the chroot must trust the host's CA bundle (egress goes through an intercepting
    # proxy) and must not inherit the host's PIP_* variables: hence `env -i` and `--cert`.
    pip = " ".join(shlex.quote(package) for package in pip_packages)
    return [
        f'cp {shlex.quote(host_ca)} "$1/tmp/host-ca.pem"',
        'chroot "$1" python3 -m venv /opt/venv',
        'chroot "$1" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root '
        "/opt/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check "
        f"--cert /tmp/host-ca.pem {pip}",
        'chroot "$1" useradd -m -u 1000 -s /bin/bash jovyan',
        # Mount points of the per-user and shared volumes: a new named volume takes the
        # ownership of the directory it is mounted on, and the lab runs as jovyan.
        'chroot "$1" install -d -o 1000 -g 1000 /home/jovyan/work /home/jovyan/.cache /mnt/shared',
        'rm -rf "$1/tmp/host-ca.pem" "$1/root/.cache"; '
        'find "$1/opt/venv" -name __pycache__ -prune -exec rm -rf {} +',
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
    """The user-server image; ``extra_pip`` (e.g. ``["jupyterlab"]``) is part of the tag's hash."""
    pip_packages = lab_pip_packages(extra_pip, jupyterhub_version)
    fingerprint = json.dumps(
        {
            "recipe": "lab-v2",
            "suite": LAB_SUITE,
            "include": _LAB_INCLUDE,
            "hooks": _lab_hooks(pip_packages, "<host-ca>"),
            "changes": _LAB_CHANGES,
        },
        sort_keys=True,
    )

    def build(client: docker.DockerClient, tag: str) -> None:
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            raise BackendMissing(f"mmdebstrap is not installed; {INSTALL_HINT}")
        if not HOST_CA_BUNDLE.exists():
            raise BackendMissing(f"{HOST_CA_BUNDLE} is missing (package ca-certificates)")
        with tempfile.TemporaryDirectory(prefix="stellars-lab-build-") as workdir:
            work = Path(workdir)
            host_ca = work / "host-ca.pem"
            shutil.copyfile(HOST_CA_BUNDLE, host_ca)
            rootfs = work / "rootfs.tar"
            command = [
                mmdebstrap,
                "--quiet",
                "--variant=minbase",
                f"--include={','.join(_LAB_INCLUDE)}",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                *(f"--customize-hook={hook}" for hook in _lab_hooks(pip_packages, str(host_ca))),
                LAB_SUITE,
                str(rootfs),
                debian_mirror(),
            ]
            build_log = work / "mmdebstrap.log"
            with build_log.open("wb") as out:
                done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                lines = build_log.read_text(errors="replace").splitlines()[-40:]
                raise RuntimeError(
                    f"mmdebstrap failed with rc {done.returncode}:\n" + "\n".join(lines)
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
