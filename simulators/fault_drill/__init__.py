"""The fault drill (``floodctl drill faults``): a storm replayed while the system's parts fail, then its invariants.

A typhoon replay through the whole system while its parts fail, then the invariants that must still hold.

On a throw-away stack of its own (a PostgreSQL cluster, a Mosquitto broker, two ingest workers, the
API, two ``floodctl alerts`` (one active engine, one standby), the virtual LED boards and
loudspeakers, and the SMS gateway stubs — every process on loopback, nothing reaching a phone) it
replays a storm and, in turn:

* kills -9 an ingest worker, the API, the active ``floodctl alerts`` and the device gateways (each is
  restarted by the supervisor, as systemd's ``Restart=`` would);
* restarts the database (down for ``db_down_s``) and the broker;
* makes the drill SMS gateway answer 503, then 429, for ``sms_outage_s``;
* jumps one station's clock a day ahead.

Meanwhile a commander approves every draft through the API, half of the towns answer their SMS
(signed, as the gateway would), and forged or replayed answers are sent too. Then it checks:

1. every reading the broker acknowledged is stored exactly once;
2. every warning the readings imply was raised, at its level (the reference: the county's rules and the
   warning lifecycle, pure code, judged in memory at every stored reading in event-time order);
3. every approved order reached each town's first responsible person, and every delivery was sent
   once per recipient and channel or failed with its reason; no drill message reached the live gateway;
4. no forged or replayed acknowledgement was accepted;
5. the system came back by itself: every component running, the API healthy, an engine active,
   nothing left in flight.

It prints the invariants and, per fault, the time until the system had recovered from it.

    stack.py       the throw-away stack (database, broker, SMS stubs, supervised processes) and its profiles
    replay.py      the run: the storm replayed while the faults strike, the wait for calm, the report
    injections.py  each fault, and how recovery from it is seen
    people.py      the commander approving drafts; towns answering, forging and replaying SMS
    reference.py   the warnings the stored readings imply, judged in memory
    invariants.py  the five invariants
"""

from simulators.fault_drill.invariants import Invariant
from simulators.fault_drill.reference import reference_levels
from simulators.fault_drill.replay import Report, run_fault_drill

__all__ = ["Invariant", "Report", "reference_levels", "run_fault_drill"]
