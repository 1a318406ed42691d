"""Bodies are cut by count and size exactly as the one-event-at-a-time rule cuts them.

`BatchingSink.add` takes a chain's events in runs (what fits at once); the rule it must
keep is the plain one written out here: before each event, send the queued body if the
event would push it past the byte limit; after it, send the body if it holds the most
events allowed. An event too large for any body still goes, alone.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ci_collector.model import Repo
from ci_collector.sinks.base import Ack, Batch, BatchingSink, Chain, encode
from ci_collector.trunk import EventDict

REPOS = (Repo("github.com", "acme", "widgets"), Repo("github.com", "acme", "gadgets"))


class Recording(BatchingSink):
    def __init__(self, batch_events: int, batch_bytes: int) -> None:
        super().__init__(batch_events, batch_bytes)
        self.bodies: list[bytes] = []

    def _deliver(self, batch: Batch) -> bool:
        self.bodies.append(batch.body())
        return True


def expected_bodies(chains: list[Chain], batch_events: int, batch_bytes: int) -> list[bytes]:
    """The rule, one event at a time, per repo."""
    queued: dict[Repo, list[bytes]] = {}
    bodies: list[bytes] = []

    def body(repo: Repo) -> bytes:
        where = {"host": repo.host, "owner": repo.owner, "name": repo.name}
        return b'{"repo":' + encode(where) + b',"events":[' + b",".join(queued[repo]) + b"]}"

    def send(repo: Repo) -> None:
        bodies.append(body(repo))
        queued[repo] = []

    for chain in chains:
        if not chain.events:
            continue
        events = queued.setdefault(chain.repo, [])
        for event in chain.events:
            encoded = encode(event)
            if events and len(body(chain.repo)) + 1 + len(encoded) > batch_bytes:
                send(chain.repo)
            queued[chain.repo].append(encoded)
            if len(queued[chain.repo]) >= batch_events:
                send(chain.repo)
            events = queued[chain.repo]
    for repo, events in queued.items():
        if events:
            send(repo)
    return bodies


def _event(index: int, padding: int) -> EventDict:
    return {  # only the size matters here; the shape is a real event's
        "id": f"e{index}",
        "chainId": "c",
        "createdAt": index,
        "finishedAt": index,
        "payload": {"metrics": [], "tags": [{"k": "pad", "v": "x" * padding}]},
        "sequence": {"platform": "github_actions", "kind": "step", "key": "k", "name": "n"},
        "conclusion": "SUCCESS",
    }


chain_shapes = st.lists(
    st.tuples(st.sampled_from(REPOS), st.lists(st.integers(0, 400), max_size=12)),
    max_size=8,
)


@settings(max_examples=300)
@given(chain_shapes, st.integers(1, 9), st.integers(1, 1500))
def test_bodies_are_cut_as_the_one_event_rule_cuts_them(
    shapes: list[tuple[Repo, list[int]]], batch_events: int, batch_bytes: int
) -> None:
    numbered = iter(range(10**6))
    chains = [
        Chain(f"run/{n}", repo, [_event(next(numbered), pad) for pad in pads])
        for n, (repo, pads) in enumerate(shapes)
    ]
    sink = Recording(batch_events, batch_bytes)
    acks: list[Ack] = []
    for chain in chains:
        acks.extend(sink.add(chain))
    acks.extend(sink.flush())
    assert sink.bodies == expected_bodies(chains, batch_events, batch_bytes)
    assert sorted(ack.chain.run_key for ack in acks) == sorted(c.run_key for c in chains)
    for body in sink.bodies:
        assert len(body) <= batch_bytes or body.count(b'"id"') == 1
