"""Where chains go: Trunk's API, a JSON-lines file, or the local store."""

from .base import Ack, BatchingSink, Chain, Sink, SinkStats
from .jsonl import JsonlSink
from .store import StoreSink
from .tee import TeeSink
from .trunk import DeliveryFailed, TokenRejected, TrunkRefused, TrunkSink

__all__ = [
    "Ack",
    "BatchingSink",
    "Chain",
    "DeliveryFailed",
    "JsonlSink",
    "Sink",
    "SinkStats",
    "StoreSink",
    "TeeSink",
    "TokenRejected",
    "TrunkRefused",
    "TrunkSink",
]
