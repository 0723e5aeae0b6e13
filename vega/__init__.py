"""VEGA: a low-latency NSE (NNF) broadcast feed handler.

The public API is re-exported here; the compiled modules (``vega._core``, ``vega._ring``, ``vega._journal``)
are implementation details.
"""
__version__ = "0.1.0"
