"""OpenTelemetry export: the same chains as OTLP/HTTP traces, to any OTLP backend.

`encoder` (chains -> official protobuf messages), `transport` (one body, retries),
`sink` (batching and per-chain acknowledgements), `config` (``OTEL_*`` settings and the
constants the CLI needs), `jsonfile` (the ``--output-format otlp-json`` dry run).

Import the submodules themselves: this package re-exports nothing, so that reading the
CLI's options (`config`) does not load protobuf, which only an OTLP run needs.
"""
