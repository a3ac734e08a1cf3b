"""Dash wall dashboard, folium situation-map export, mobile pages.

Not built yet: this package lands with the wall-dashboard issue.
"""
