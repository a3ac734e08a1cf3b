"""Typhoon drill replay, virtual gauges / LED boards / loudspeakers, SMS gateway stub.

Not built yet beyond the benchmark publisher (floodctl/bench); lands with the drill issue.
"""
