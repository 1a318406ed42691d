"""The github source: client (HTTP), mapping (platform JSON -> run tree), source (the stream)."""
