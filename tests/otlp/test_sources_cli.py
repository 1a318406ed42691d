"""Real collectors with OTLP added to a Trunk setup later: the history OTLP has not
received goes to OTLP only, whatever the source's bookmarks (ETags, cursors) say, and
Trunk is not re-sent. Uses the chaos suite's platform worlds, without faults."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.chaos.worlds import PLATFORMS, World, open_world
from tests.conftest import run_cli
from tests.servers.otlp import OtlpReceiver, running_receiver
from tests.servers.trunk import TOKEN, TrunkStandIn


def poll(world: World, state: Path, trunk: TrunkStandIn, otlp: OtlpReceiver | None) -> str:
    env = {**world.env, "TRUNK_API_TOKEN": TOKEN}
    if otlp is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    args = [*world.args, "--trunk-url", trunk.url, "--state", str(state)]
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("seed", [7, 8])
def test_otlp_added_later_gets_the_history_and_trunk_is_not_resent(
    platform: str, seed: int, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    with open_world(platform, random.Random(seed)) as world:
        poll(world, state, trunk, None)
        posts, events = trunk.posts, len(trunk.events)
        assert events > 0
        poll(world, state, trunk, None)
        assert trunk.posts == posts  # nothing new for Trunk
        with running_receiver(api_key=None) as otlp:
            poll(world, state, trunk, otlp)
            assert trunk.posts == posts  # Trunk had every run already
            assert len(otlp.spans) == events  # OTLP got the whole history
            sent = otlp.posts
            poll(world, state, trunk, otlp)
            assert otlp.posts == sent and trunk.posts == posts
