"""Drills and stand-ins: storm tracks and scenarios, the hazard model, drill replay with fault
profiles, virtual LED boards and loudspeakers, and a fast QoS 1 publisher."""
