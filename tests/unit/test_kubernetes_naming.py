"""Pod and claim names derived from the platform's Docker names: always valid Kubernetes names,
the same ones for the same input, and the claim mapping one to one."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.kubernetes import (
    claim_name,
    claim_problem,
    is_label,
    is_subdomain,
    pod_name,
    pod_volume_name,
    volume_of_claim,
)
from stellars.domain.errors import InvalidValue
from stellars.domain.volumes import DockerNaming, container_name, user_volumes

DEFAULT_VOLUMES = user_volumes(
    {
        "jupyterlab-{username}_home": "/home/jovyan",
        "jupyterlab-{username}_workspace": "/home/jovyan/work",
        "jupyterlab-{username}_cache": "/home/jovyan/.cache",
    }
)
NAMING = DockerNaming(prefix="jupyterlab")
HASHED = re.compile(r"^(?P<kept>[a-z0-9-]*)-(?P<digest>[0-9a-f]{8})$")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("a", True),
        ("jupyterlab-alice", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("0abc9", True),
        ("a--b", True),
        ("-a", False),
        ("a-", False),
        ("A", False),
        ("a_b", False),
        ("a.b", False),
        ("", False),
    ],
)
def test_dns_labels(text, label):
    assert is_label(text) is label


@pytest.mark.parametrize(
    ("text", "subdomain"),
    [
        ("a.b", True),
        ("jupyterlab-alice.home", True),
        ("a" * 63 + "." + "b" * 63, True),
        ("a" * 64 + ".b", True),  # Kubernetes checks the whole length only, not each part's
        (".".join(["a" * 63] * 4)[:253].rstrip("."), True),
        ("a." * 126 + "ab", False),  # 254 characters
        ("a.", False),
        (".a", False),
        ("a..b", False),
        ("", False),
    ],
)
def test_dns_subdomains(text, subdomain):
    assert is_subdomain(text) is subdomain


def test_a_container_name_that_is_a_label_is_the_pod_name():
    assert pod_name("jupyterlab-alice") == "jupyterlab-alice"
    assert pod_name("a" * 63) == "a" * 63


@pytest.mark.parametrize(
    "container", ["a" * 64, "Jupyterlab-Alice", "lab_alice", "-alice", "alice-", "x.y", "", "_"]
)
def test_any_other_name_is_cut_and_hashed_into_a_label(container):
    name = pod_name(container)
    assert is_label(name)
    match = HASHED.match(name)
    assert match is not None
    assert len(match["kept"]) <= 54
    assert name == pod_name(container)  # the same name every time: a hub restart finds it


def test_a_cut_name_keeps_its_readable_start():
    assert pod_name("Lab_Alice").startswith("lab-alice-")
    assert pod_name("a" * 80).startswith("a" * 54 + "-")
    assert pod_name("_").startswith("lab-")


@given(st.text(max_size=300))
def test_every_container_name_gives_a_pod_name(container):
    assert is_label(pod_name(container))


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_different_containers_get_different_pods(first, second):
    if first != second:
        assert pod_name(first) != pod_name(second) or is_label(first) != is_label(second)


@given(st.text(max_size=120))
def test_every_username_of_the_default_naming_has_a_pod(username):
    assert is_label(pod_name(container_name(username, NAMING)))


def test_claims_write_underscores_as_dots_and_back():
    assert claim_name("jupyterlab-alice_home") == "jupyterlab-alice.home"
    assert claim_name("jupyterhub_shared") == "jupyterhub.shared"
    assert claim_name("team-data") == "team-data"
    assert volume_of_claim("jupyterlab-alice.home") == "jupyterlab-alice_home"


@pytest.mark.parametrize(
    ("volume", "problem"),
    [
        ("team.data", "holds a '.'"),
        ("a" * 254, "254 characters (at most 253)"),
        ("Team_data", "would not be a DNS name"),
        ("a__b", "would not be a DNS name"),
        ("a_-b", "would not be a DNS name"),
        ("_a", "would not be a DNS name"),
    ],
)
def test_volume_names_without_a_claim_name_say_why(volume, problem):
    assert problem in (claim_problem(volume) or "")
    with pytest.raises(InvalidValue) as refused:
        claim_name(volume)
    assert refused.value.field == "volumes"
    assert problem in refused.value.message


def test_the_longest_claim_name_is_253_characters():
    assert claim_problem("a" * 253) is None
    assert claim_name("a" * 253) == "a" * 253


@given(st.text(min_size=1, max_size=100))
def test_every_user_volume_of_the_default_naming_has_a_claim(username):
    for volume in DEFAULT_VOLUMES:
        name = volume.name_for(username, NAMING)
        if len(name) <= 253:  # Docker allows 255; a claim name 253
            claim = claim_name(name)
            assert is_subdomain(claim)
            assert volume_of_claim(claim) == name


@given(st.from_regex(r"[a-z0-9_-]{1,60}", fullmatch=True))
def test_claim_names_map_one_to_one(volume):
    if claim_problem(volume) is None:
        assert volume_of_claim(claim_name(volume)) == volume


def test_pod_volume_names_are_unique_labels():
    names = [pod_volume_name(index, label) for index, label in enumerate(["home", "a_b", "x" * 60])]
    assert names == ["user-0-home", "user-1", "user-2"]
    assert pod_volume_name(1, "2") != pod_volume_name(12, "a_b")
    assert all(is_label(name) for name in names)
