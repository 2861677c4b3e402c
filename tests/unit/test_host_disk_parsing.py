"""What the engine's data directory is measured from: `docker info`'s `DockerRootDir` and the one
line `stat -f -c '%S %b %a'` prints, read strictly (anything else is a reason, never a guess)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.docker.host_disk import (
    MOUNT_POINT,
    STAT_COMMAND,
    data_directory,
    space_from_stat,
)
from stellars.domain.disk import DiskSpace
from stellars.domain.errors import InvalidValue


def test_the_command_asks_for_block_size_blocks_and_blocks_available_to_non_root():
    assert STAT_COMMAND == ("stat", "-f", "-c", "%S %b %a", MOUNT_POINT)


@pytest.mark.parametrize(
    ("output", "space"),
    [
        ("4096 66053021 17452100\n", DiskSpace(4096 * 66053021, 4096 * 17452100)),
        ("4096 66053021 17452100", DiskSpace(4096 * 66053021, 4096 * 17452100)),
        ("1 10 0\n", DiskSpace(10, 0)),
        ("512 1 1\n", DiskSpace(512, 512)),
    ],
)
def test_one_line_of_three_whole_numbers_is_the_space(output, space):
    assert space_from_stat(output) == space


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("", "expected three whole numbers, got ''"),
        ("\n", "expected three whole numbers, got ''"),
        ("4096 66053021\n", "expected three whole numbers, got '4096 66053021'"),
        (
            "4096 66053021 17452100 9\n",
            "expected three whole numbers, got '4096 66053021 17452100 9'",
        ),
        (" 4096 10 1\n", "expected three whole numbers, got '4096 10 1'"),
        ("4096  10 1\n", "expected three whole numbers, got '4096 10 1'"),
        ("4096 10 1\n\n", "expected three whole numbers, got '4096 10 1'"),
        ("4096 10 -1\n", "expected three whole numbers, got '4096 10 -1'"),
        ("4096 10 1.5\n", "expected three whole numbers, got '4096 10 1.5'"),
        ("4096 ten 1\n", "expected three whole numbers, got '4096 ten 1'"),
        ("٤٠٩٦ 10 1\n", "expected three whole numbers, got '٤٠٩٦ 10 1'"),
        (
            "4096 10 1\nstat: warning\n",
            "expected three whole numbers, got '4096 10 1 stat: warning'",
        ),
        (
            "1 123456789012345678901 1\n",
            "expected three whole numbers, got '1 123456789012345678901 1'",
        ),
        ("0 10 1\n", "block size must be at least 1, got 0"),
        ("4096 0 0\n", "total_bytes must be a whole number of at least 1, got 0"),
        ("4096 10 11\n", "free_bytes must not exceed the total of 40960, got 45056"),
    ],
)
def test_anything_else_is_refused_with_what_was_read(output, message):
    with pytest.raises(InvalidValue) as error:
        space_from_stat(output)
    assert (error.value.field, error.value.message) == ("stat output", message)


def test_a_long_answer_is_repeated_short():
    with pytest.raises(InvalidValue) as error:
        space_from_stat("<html>" + "x" * 500)
    assert len(error.value.message) < 200
    assert error.value.message.endswith("...'")


@given(
    st.integers(1, 2**20),
    st.integers(1, 2**40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
)
def test_every_possible_answer_is_read_back(block, counts):
    blocks, available = counts
    space = space_from_stat(f"{block} {blocks} {available}\n")
    assert space == DiskSpace(block * blocks, block * available)


def test_the_data_directory_is_the_engines_absolute_path():
    assert data_directory({"DockerRootDir": "/var/lib/docker", "NCPU": 2}) == "/var/lib/docker"


@pytest.mark.parametrize(
    "info",
    [
        {},
        {"DockerRootDir": ""},
        {"DockerRootDir": "docker"},
        {"DockerRootDir": None},
        {"DockerRootDir": ["/x"]},
    ],
)
def test_an_answer_without_an_absolute_data_directory_is_refused(info):
    with pytest.raises(InvalidValue) as error:
        data_directory(info)
    assert error.value.field == "DockerRootDir"
    assert error.value.message.startswith("the engine names no absolute path, got ")
