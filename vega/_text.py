"""Short human texts of numbers, shared by the capture's lines (vega.capture) and the command line
(vega.commands): neither imports the other for them."""
from __future__ import annotations


def fmt_age(ns: int) -> str:
    """A duration in ns, short and human."""
    if ns < 0:
        return "-"
    s = ns / 1e9
    if s < 1:
        return f"{s * 1e3:.0f}ms"
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.0f}d"
