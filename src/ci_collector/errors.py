"""Errors that end a command with a one-line message and a meaningful exit code.

0 done, 1 partial or remote failure, 2 usage or configuration, 75 come back later
(the sysexits EX_TEMPFAIL that cron wrappers and systemd understand).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75


class CollectorError(Exception):
    """Base: the message is shown as is, on one line, without a traceback."""

    exit_code = EXIT_PARTIAL


class UserError(CollectorError):
    """Bad input or configuration: the user can fix it by changing the command."""

    exit_code = EXIT_USAGE


class RemoteError(CollectorError):
    """A platform or Trunk failed in a way retrying now will not fix."""

    exit_code = EXIT_PARTIAL


class ComeBackLater(CollectorError):
    """Rate limited or unavailable for now; state is saved, a later run continues."""

    exit_code = EXIT_TEMPFAIL


class RunSkipped(CollectorError):
    """Raised instead of a warning when the user asked for --fail-fast."""

    exit_code = EXIT_PARTIAL
