"""Collectors: one module per CI platform, each yielding finished `Run` trees."""
