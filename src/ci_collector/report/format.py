"""How numbers read to a person, shared by the terminal and HTML renderings."""

from __future__ import annotations


def duration(ms: float | None) -> str:
    """``850ms``, ``12.4s``, ``3m 05s``, ``2h 07m``; an em dash when unknown."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


def change(ratio: float | None) -> str:
    """A trend as ``+12%`` / ``-3%``; empty when there is nothing to compare with."""
    if ratio is None:
        return ""
    arrow = "▲" if ratio > 0.005 else "▼" if ratio < -0.005 else "="
    return f"{arrow}{abs(ratio) * 100:.0f}%"


def rate(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"
