"""The ``ci-collector`` command: thin click wiring over the pipeline.

`main` turns every expected failure into one line on stderr and an exit code
(0 done, 1 partial or remote failure, 2 usage, 75 come back later); tracebacks are
reserved for bugs.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import click

from . import __version__, actions, gcpolicy, headerparse, logs
from .errors import EXIT_USAGE, CollectorError
from .secrets import redact
from .terminal import printable

COMMANDS = {
    "github": "ci_collector.commands.github:github",
    "jenkins": "ci_collector.commands.jenkins:jenkins",
    "circleci": "ci_collector.commands.circleci:circleci",
    "report": "ci_collector.commands.report:report",
    "validate": "ci_collector.commands.validate:validate",
    "state": "ci_collector.commands.state:state",
    "dead-letter": "ci_collector.commands.dead_letter:dead_letter",
    "health": "ci_collector.commands.health:health",
}


class LazyGroup(click.Group):
    """Imports a command's module only when it is used: a cron poll of Jenkins need not
    load PyGithub, the report or the CircleCI client."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        self.add_command(command, cmd_name)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="ci-collector")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More detail (-vv also shows every HTTP request); also after the subcommand.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    envvar="CI_COLLECTOR_LOG_FORMAT",
    help="Log lines for people (text), or JSON for shippers (the final error too).",
)
def cli(verbose: int, quiet: bool, log_format: str | None) -> None:
    """Collect CI history from GitHub Actions, Jenkins and CircleCI into Trunk CI Analytics.

    Each collecting command reads finished runs, maps them to Trunk event chains and
    sends them (TRUNK_API_TOKEN), or writes them to a file (--output). A state file
    remembers what was delivered, so it can run on a schedule or backfill and resume.
    """
    logs.set_global(verbose, quiet, log_format)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    """The console script and ``python -m ci_collector``: `main`, as a batch process."""
    gcpolicy.batch_process()
    headerparse.install()
    main()


def main(argv: list[str] | None = None) -> None:
    # SIGTERM (systemd, Kubernetes, kill) ends like Ctrl-C: what was delivered is already
    # recorded, so the same command continues where this one stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    args = sys.argv[1:] if argv is None else list(argv)
    logs.reset("json" if _json_requested(args) else None)
    if not args:  # help is what was asked for: stdout, success
        click.echo(
            cli.get_help(click.Context(cli, info_name="ci-collector", **cli.context_settings))
        )
        sys.exit(0)
    try:
        code = cli.main(args=args, prog_name="ci-collector", standalone_mode=False)
    except click.UsageError as exc:
        _fail(f"{exc.format_message()}", exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        _fail("interrupted; run the same command again to continue", 130)
    except CollectorError as exc:
        _fail(str(exc), exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _json_requested(args: list[str]) -> bool:
    """Whether the final error must be JSON, even when the arguments do not parse."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--log-format=json" or (
            arg == "--log-format" and args[index + 1 :][:1] == ["json"]
        ):
            return True
    return os.environ.get("CI_COLLECTOR_LOG_FORMAT") == "json"


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    one_line = " ".join(redact(message).split())  # usage errors span lines: keep the one
    click.echo(logs.final_error(one_line, code), err=True)
    actions.append_summary(f"### ci-collector failed (exit {code})\n\n{printable(one_line)}\n")
    sys.exit(code)
