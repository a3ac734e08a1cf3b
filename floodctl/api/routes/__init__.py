"""Routers of the ground floor's resources (stations, layers, operations), mounted by floodctl.api.app."""
