"""What the two managed services share about their command lines and their environment.

Each service keeps one options table, policy field -> (option, meaning), next to its parser.
From that one table come the parser's options (`add_policy_options`), the policy rebuilt from
the parsed arguments (`policy_from_args`, which names the option when the policy refuses a
value) and the arguments the hub starts the service with (`policy_arguments`). A renamed option
therefore changes both sides at once, and a test that feeds a service its own command line
catches any drift before a hub starts.

The platform's database URL is never an argument: a command line shows in `ps`, in the hub's
log ("Starting service ...") and in `GET /hub/api/services`, and the URL may hold a password.
The hub hands it in the service's environment (`service_environment`), under the variable the
deployer sets it with (STELLARS_DB_URL). `--db-url` stays for running a service by hand, and
wins over the variable.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeAlias, TypeVar

from sqlalchemy.exc import ArgumentError

from stellars.adapters.sql import SqlDatabase, create_store_engine
from stellars.configuration import variable_for
from stellars.domain.errors import InvalidValue
from stellars.domain.validation import describe_bounds

#: policy field -> (option, what it means); ranges and defaults come from the policy itself.
OptionTable: TypeAlias = Mapping[str, tuple[str, str]]
#: The variable that carries the platform's database URL, to the hub and to its services.
DB_URL_VARIABLE = variable_for("hub.stellars_db_url")
DB_URL_OPTION = "--db-url"

Policy = TypeVar("Policy")


def add_policy_options(
    parser: argparse.ArgumentParser, options: OptionTable, policy_class: Any
) -> None:
    """One whole-number option per policy field, with the policy's default and range."""
    defaults = policy_class()
    for field, (option, meaning) in options.items():
        bounds = describe_bounds(policy_class.LIMITS[field])
        parser.add_argument(
            option,
            dest=field,
            metavar=option.lstrip("-").replace("-", "_").upper(),  # as argparse would name it
            type=int,
            default=getattr(defaults, field),
            help=f"{meaning} ({bounds}, default %(default)s)",
        )


def policy_from_args(
    build: Callable[..., Policy],
    args: argparse.Namespace,
    options: OptionTable,
    parser: argparse.ArgumentParser,
    **fixed: object,
) -> Policy:
    """`build(**fixed, <field>=<parsed value> for every option)`; a value the policy refuses
    stops the service with a message naming the option (exit status 2)."""
    try:
        return build(**fixed, **{field: getattr(args, field) for field in options})
    except InvalidValue as error:
        option = options[error.field][0] if error.field in options else error.field
        parser.error(f"argument {option}: {error.message}")


def policy_arguments(policy: object, options: OptionTable) -> list[str]:
    """The options that give a service `policy`, as `--option=value` arguments."""
    return [f"{option}={getattr(policy, field)}" for field, (option, _) in options.items()]


def add_db_url_option(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument(
        DB_URL_OPTION,
        default=None,
        help=f"SQLAlchemy URL of the stellars database, e.g. {example} (the hub must use the "
        f"same one). Default: the {DB_URL_VARIABLE} environment variable, which is how the "
        "hub hands it over, since a command line shows in ps, in the hub's log and in "
        f"/hub/api/services; {DB_URL_OPTION} wins over the variable.",
    )


def database_url(
    args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser
) -> tuple[str, str]:
    """(the database URL, where it came from): `--db-url` when given, else the variable."""
    if args.db_url:
        return args.db_url, f"argument {DB_URL_OPTION}"
    url = environ.get(DB_URL_VARIABLE, "").strip()
    if not url:
        parser.error(
            f"argument {DB_URL_OPTION}: no database: set {DB_URL_VARIABLE} (the hub does) "
            f"or pass {DB_URL_OPTION}"
        )
    return url, DB_URL_VARIABLE


def open_database(url: str, origin: str, parser: argparse.ArgumentParser) -> SqlDatabase:
    """The database at `url`; a URL the store cannot use stops the service naming `origin`."""
    try:
        return SqlDatabase(create_store_engine(url))
    except (InvalidValue, ArgumentError) as error:
        _stop(parser, origin, str(getattr(error, "message", error)))
    except ImportError as error:
        _stop(parser, origin, f"its database driver is missing ({error})")


def _stop(parser: argparse.ArgumentParser, origin: str, message: str) -> NoReturn:
    parser.error(f"{origin}: {message}")


def service_environment(db_url: str) -> dict[str, str]:
    """The environment the hub gives a managed service: the database URL, out of argv."""
    return {DB_URL_VARIABLE: db_url}
