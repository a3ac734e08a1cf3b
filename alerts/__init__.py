"""Warning rules, response orders, dispatch channels (SMS, LED, loudspeaker), 叫应, CAP.

Not built yet: this package lands with the warnings issue.
"""
