"""The HTTP side of the Jenkins collector: python-jenkins plus our own ``tree=`` queries.

python-jenkins has no ``tree=`` helper and its build getters over-fetch, so every
request here is built by hand and sent through `Jenkins.jenkins_request` (which keeps
its auth and crumb handling). Every failure becomes one of four things the collector
can act on: `BuildGone` (404: skip that build), `ComeBackLater` (busy, timing out or
dropping connections even after two retries), `RemoteError` (Jenkins is unusable), or
`UserError` (the URL or credentials are wrong).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import jenkins
import requests
from requests import exceptions as req_exc

from ... import jsonio
from ...errors import CollectorError, ComeBackLater, RemoteError, UserError
from ...retry import PacedRetry
from ...transport import (
    DEFAULT_MAX_BODY_MB,
    BodyTooLarge,
    DeadlinePassed,
    LimitedAdapter,
    http_url,
    limit_session,
)
from ...unreachable import never_connected, untrusted_certificate, untrusted_message
from .identity import server_identity

log = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseException)

PAGE = 100
"""Builds per list request: Jenkins serves `allBuilds` in any range, 100 keeps bodies small."""

_CAUSE_FIELDS = "shortDescription,userId,userName,upstreamProject,upstreamBuild,upstreamUrl"


def _causes(depth: int) -> str:
    """Causes with their nested upstream causes, `depth` levels deep (chains of triggers)."""
    inner = f"upstreamCauses[{_CAUSE_FIELDS}]"
    for _ in range(depth - 1):
        inner = f"upstreamCauses[{_CAUSE_FIELDS},{inner}]"
    return f"causes[{_CAUSE_FIELDS},{inner}]"


BUILD_FIELDS = (
    "number,url,result,building,timestamp,duration,displayName,fullDisplayName,builtOn,"
    "actions["
    f"{_causes(6)},"
    "lastBuiltRevision[SHA1,branch[name]],remoteUrls,scmName,"
    "libraries[name,version],"
    "parameters[name,value],"
    "queuingDurationMillis"
    "]"
)
"""Everything a build's root event needs, so a freestyle build costs no request of its own.

``queuingDurationMillis`` is the metrics plugin's `TimeInQueueAction`; ``libraries`` is
`LibrariesAction`, which tells a shared-library checkout from the project's own.
"""

JOB_FIELDS = "property[projectUrl]"
"""The GitHub project property, the fallback source of a job's repository."""

DISCOVERY_DEPTH = 8

TRANSIENT_STATUS = (429, 500, 502, 503, 504)
"""Answers worth asking again: a proxy or a busy controller, not a wrong request."""


def _jobs_tree(depth: int) -> str:
    tree = "jobs[name]"
    for _ in range(depth):
        tree = f"jobs[name,{tree}]"
    return tree


class BuildGone(Exception):
    """The build (or job) answered 404: deleted by log rotation since it was listed."""


@dataclass(frozen=True, slots=True)
class JobRef:
    """A buildable job: its full path (``folder/project/branch``) and what holds it."""

    path: str
    branch_job: bool = False
    """True when the job is a multibranch branch (its name is the branch, ``PR-n`` a PR)."""

    @property
    def segments(self) -> list[str]:
        return self.path.split("/")


def _is_jenkins(response: requests.Response) -> bool:
    """Jenkins names itself in an ``X-Jenkins`` header on every answer, errors included."""
    return "x-jenkins" in response.headers


def _from_jenkins(exc: BaseException) -> bool:
    error = _cause(exc, req_exc.HTTPError)
    return error is not None and error.response is not None and _is_jenkins(error.response)


def _cause(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` that `exc` was raised from (or during)."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return None
        if isinstance(current, kind):
            return current
        current = current.__cause__ or current.__context__
    return None


def job_url_path(path: str) -> str:
    """``a/b`` -> ``job/a/job/b/``; names are quoted whole (a branch ``x%2Fy`` stays one)."""
    return "".join(f"job/{quote(name, safe='')}/" for name in path.split("/") if name)


_CONTAINERS = ("Folder", "MultiBranchProject", "OrganizationFolder")


def _is_container(item: dict[str, Any]) -> bool:
    cls = str(item.get("_class", ""))
    return "jobs" in item or any(cls.endswith(name) for name in _CONTAINERS)


def _is_multibranch(item: dict[str, Any]) -> bool:
    return str(item.get("_class", "")).endswith(("MultiBranchProject", "MultiBranchProjectImpl"))


class JenkinsClient:
    """One Jenkins server: counted, time-limited GETs that return parsed JSON."""

    def __init__(
        self,
        url: str,
        user: str | None,
        token: str | None,
        timeout: float,
        verify: bool = True,
        *,
        retry_seconds: float = 300.0,
        max_body_mb: float = DEFAULT_MAX_BODY_MB,
    ) -> None:
        http_url("--url", url)  # one line for a malformed --url, before any request
        self.base = url.rstrip("/") + "/"
        self.host = server_identity(url)
        """Server identity in natural keys: host plus any path prefix (``ci.acme/jenkins``)."""
        self.server = jenkins.Jenkins(self.base, username=user, password=token, timeout=timeout)
        if not verify:
            self.server._session.verify = False
        # Retry what a busy controller or a flaky proxy gets wrong, a little, before
        # ending the poll with "come back later" (what was delivered is kept).
        retries = PacedRetry(
            total=2,
            status_forcelist=TRANSIENT_STATUS,
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            budget=retry_seconds,
        )
        adapter = LimitedAdapter(
            timeout,
            int(max_body_mb * 1_048_576),
            max_retries=retries,
            pool_maxsize=64,  # one kept-alive connection per --concurrency worker
        )
        limit_session(self.server._session, adapter)
        self._answered = False
        self._credentials = bool(user and token)
        """True once Jenkins answered JSON: before that, a wrong answer means a wrong --url."""
        self.requests = 0
        self._count_lock = threading.Lock()  # prefetch workers answer concurrently
        self.server._session.hooks["response"].append(self._count)
        self.blue_ocean = True

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._count_lock:
            self.requests += 1

    def get(self, path: str, tree: str | None = None, what: str = "") -> Any:
        """GET ``path`` (relative to the server) as JSON; `BuildGone` on 404."""
        url = self.base + path
        params = {"tree": tree} if tree else None
        what = what or path
        try:
            response = self.server.jenkins_request(requests.Request("GET", url, params=params))
        except jenkins.NotFoundException as exc:
            if path == "api/json" or not (self._answered or _from_jenkins(exc)):
                raise self._not_root(path, 404) from None
            raise BuildGone(what) from None
        except jenkins.TimeoutException as exc:
            late = _cause(exc, DeadlinePassed)
            problem = f"did not finish {what} ({late})" if late else f"timed out ({what})"
            raise ComeBackLater(f"Jenkins at {self.base} {problem}; run again later") from None
        except req_exc.TooManyRedirects:
            raise UserError(
                f"{self.base} redirects {what} in a loop; check --url (http or https, "
                "the context path) and the proxy in front of Jenkins"
            ) from None
        except BodyTooLarge as exc:
            raise RemoteError(f"Jenkins at {self.base}: {what}: {exc}") from None
        except (req_exc.ChunkedEncodingError, req_exc.ContentDecodingError) as exc:
            raise ComeBackLater(
                f"Jenkins at {self.base} cut its answer short ({what}: "
                f"{type(exc).__name__}); run again later"
            ) from None
        except req_exc.ConnectionError as exc:
            reason = untrusted_certificate(exc)
            if reason is not None:
                raise RemoteError(untrusted_message("Jenkins", self.base, reason)) from None
            if not self.requests and never_connected(exc):
                raise RemoteError(f"cannot reach Jenkins at {self.base}") from None
            raise ComeBackLater(
                f"Jenkins at {self.base} dropped the connection ({what}); run again later"
            ) from None
        except req_exc.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            if code in TRANSIENT_STATUS:
                raise ComeBackLater(
                    f"Jenkins answered HTTP {code} for {what}; run again later"
                ) from None
            if not self._answered and exc.response is not None and not _is_jenkins(exc.response):
                raise self._not_root(path, code) from None
            raise RemoteError(f"Jenkins answered HTTP {code} for {what}") from None
        except jenkins.JenkinsException as exc:
            # python-jenkins words a 500 like a 401/403 ("Possibly authentication failed")
            status = re.search(r"\[(\d{3})\]", str(exc))
            code = status.group(1) if status else "401/403"
            if status is not None and int(status.group(1)) in TRANSIENT_STATUS:
                raise ComeBackLater(
                    f"Jenkins answered HTTP {status.group(1)} for {what}; run again later"
                ) from None
            if "authentication" in str(exc).lower() and not self._credentials:
                raise UserError(
                    f"Jenkins at {self.base} asks to log in (HTTP {code} for /{path}): "
                    "set JENKINS_USER and JENKINS_API_TOKEN"
                ) from None
            if "authentication" in str(exc).lower():
                raise UserError(
                    f"Jenkins at {self.base} refused the credentials "
                    "(check JENKINS_USER and JENKINS_API_TOKEN)"
                ) from None
            raise RemoteError(f"Jenkins request failed: {str(exc).splitlines()[0]}") from None
        except requests.RequestException as exc:  # anything else requests can say
            raise RemoteError(f"Jenkins at {self.base}: {what}: {type(exc).__name__}") from None
        except ValueError:
            # python-jenkins parses the crumbIssuer answer itself: an HTML page fails here
            raise self._not_json(what, path) from None
        try:
            body = jsonio.loads(response.text)
        except ValueError:
            raise self._not_json(what, path) from None
        self._answered = True
        return body

    def _not_root(self, path: str, status: int) -> UserError:
        return UserError(
            f"{self.base} is not a Jenkins root (HTTP {status} for /{path}); "
            "check --url and the context path"
        )

    def _not_json(self, what: str, path: str) -> CollectorError:
        if not self._answered:  # the very first answer: a login page, a proxy, not Jenkins
            return UserError(
                f"{self.base} is not a Jenkins root (a page that is not JSON for /{path}, "
                "a login page?); check --url and the context path"
            )
        return RemoteError(
            f"{self.base} answered something that is not JSON for {what} "
            "(is --url the Jenkins root, and are the credentials right?)"
        )

    # ---- discovery ------------------------------------------------------------------

    def discover(self) -> Iterator[JobRef]:
        """Every buildable job under the root: folders, multibranch and organisation folders.

        One request fetches `DISCOVERY_DEPTH` levels; deeper folders (whose children come
        back without names) cost one more request each.
        """
        pending: list[tuple[str, bool]] = [("", False)]
        while pending:
            prefix, parent_multibranch = pending.pop(0)
            path = job_url_path(prefix) + "api/json"
            body = self.get(path, _jobs_tree(DISCOVERY_DEPTH), what=f"job list of /{prefix}")
            if not isinstance(body, dict):
                raise RemoteError(f"unexpected job list from {self.base}{path}")
            yield from self._walk(body.get("jobs"), prefix, parent_multibranch, pending)

    def _walk(
        self,
        items: Any,
        prefix: str,
        parent_multibranch: bool,
        pending: list[tuple[str, bool]],
    ) -> Iterator[JobRef]:
        if not isinstance(items, list):
            return
        for item in items:
            if not isinstance(item, dict):
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name:
                continue
            full = f"{prefix}/{name}" if prefix else name
            if _is_container(item):
                if "jobs" in item:
                    yield from self._walk(item["jobs"], full, _is_multibranch(item), pending)
                else:  # deeper than one request reaches
                    pending.append((full, _is_multibranch(item)))
            else:
                yield JobRef(full, branch_job=parent_multibranch)

    # ---- builds ---------------------------------------------------------------------

    def job_with_builds(self, job: JobRef, start: int, end: int) -> dict[str, Any]:
        """One request: the job's GitHub property and builds ``[start, end)``, newest first."""
        tree = f"{JOB_FIELDS},allBuilds[{BUILD_FIELDS}]{{{start},{end}}}"
        body = self.get(job_url_path(job.path) + "api/json", tree, what=f"builds of {job.path}")
        if not isinstance(body, dict):
            raise RemoteError(f"unexpected build list for {job.path}")
        return body

    def describe(self, job: JobRef, number: int) -> Any:
        """Stage View's ``wfapi/describe`` of one Pipeline build (its stages, flat)."""
        return self.get(
            f"{job_url_path(job.path)}{number}/wfapi/describe", what=f"{job.path} #{number}"
        )

    def blue_nodes(self, job: JobRef, number: int, branch_job: bool) -> Any:
        """Blue Ocean's node graph of a build (stages and parallel branches), or None.

        Only Blue Ocean names parallel branches; without the plugin (404) the collector
        keeps Stage View's flat stages, and stops asking.
        """
        if not self.blue_ocean:
            return None
        segments = [quote(name, safe="") for name in job.segments]
        path = "blue/rest/organizations/jenkins/"
        for index, name in enumerate(segments):
            last = index == len(segments) - 1
            path += f"{'branches' if last and branch_job else 'pipelines'}/{name}/"
        try:
            return self.get(f"{path}runs/{number}/nodes/", what=f"{job.path} #{number} nodes")
        except BuildGone:
            log.info("Blue Ocean is not installed: parallel branches stay flat stages")
            self.blue_ocean = False
            return None
