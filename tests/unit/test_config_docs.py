"""docs/configuration.md is what `python -m tooling.config_docs` generates from the settings
catalogue, so the documented variables, defaults and ranges never drift from the code."""

from __future__ import annotations

import pytest
from tooling import config_docs

from stellars.configuration import BY_NAME, CATEGORIES, VARIABLES, Kind, Variable, default_text


def test_docs_configuration_md_is_the_generated_file():
    committed = config_docs.OUTPUT.read_text(encoding="utf-8")
    assert committed == config_docs.render(), (
        "docs/configuration.md differs from the settings catalogue: run "
        f"`{config_docs.REGENERATE}` and commit the result"
    )


def test_every_variable_has_one_row_under_its_category():
    text = config_docs.render()
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == [c for c in CATEGORIES if any(v.category == c for v in VARIABLES)]
    for variable in VARIABLES:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{variable.name}` |")]
        assert len(rows) == 1, variable.name
        section = text[: text.index(rows[0])]
        assert section.rindex(f"## {variable.category}\n") == section.rindex("## ")


def test_defaults_and_ranges_come_from_the_settings():
    text = config_docs.render()
    assert "| `JUPYTERHUB_PORT` | integer | `8000` | 1-65535 |" in text
    assert "| `JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS` | integer | `7` | 1-365 |" in text
    assert "| `STELLARS_SPAWNER` | choice | `auto` | `auto`, `docker`, `local`, `swarm` |" in text
    assert "| `JUPYTERHUB_PROXY_API_PORT` | integer | JUPYTERHUB_PORT + 1 | 1-65535 |" in text


def test_a_secret_never_shows_its_default():
    secret = Variable(
        "STELLARS_TEST_SECRET",
        CATEGORIES[0],
        "hub.admin_username",  # a field whose default is not empty
        "A secret for this test.",
        Kind.SECRET,
    )
    assert default_text(BY_NAME["JUPYTERHUB_ADMIN"]) == "admin"
    text = config_docs.render([secret])
    row = next(line for line in text.splitlines() if "STELLARS_TEST_SECRET" in line)
    assert "admin" not in row
    assert "(secret; not set)" in row
    assert all(
        "(secret; not set)" in line
        for line in config_docs.render().splitlines()
        if any(f"`{v.name}`" in line for v in VARIABLES if v.kind is Kind.SECRET)
        and line.startswith("| `")
    )


def test_table_cells_escape_pipes():
    variable = Variable("STELLARS_TEST_PIPE", CATEGORIES[0], "hub.base_url", "a | b")
    row = next(line for line in config_docs.render([variable]).splitlines() if "PIPE" in line)
    assert "a \\| b" in row


def test_check_exits_1_when_the_file_differs_and_0_when_it_matches(tmp_path, capsys):
    path = tmp_path / "configuration.md"
    assert config_docs.main(["--check", "--output", str(path)]) == 1  # missing
    path.write_text("stale\n")
    assert config_docs.main(["--check", "--output", str(path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert config_docs.main(["--output", str(path)]) == 0
    assert path.read_text() == config_docs.render()
    assert config_docs.main(["--check", "--output", str(path)]) == 0


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_no_cell_breaks_the_table(variable):
    text = config_docs.render([variable])
    row = next(line for line in text.splitlines() if line.startswith(f"| `{variable.name}`"))
    unescaped = row.replace("\\|", "")
    assert unescaped.count("|") == 6
