"""HTTP routes of the dashboard package, one module per resource (mounted by ``floodctl.api.app`` only)."""
