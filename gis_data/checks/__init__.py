"""Checks of the county's layers, one module per concern: towns, stations, water, places, the roster.

Every check returns (or appends to) a list of problems, one line each, and never stops at the first.
"""
