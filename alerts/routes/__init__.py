"""HTTP routes of alerts, one module per resource, each with its ``router`` (included by floodctl/api/app.py).

- ``warnings``        warnings and their history; a duty officer's acknowledgement
- ``response_level``  the county response level in force, and setting it (commander)
- ``orders``          response orders: draft, approve, cancel; a town's 叫应 and 已落实
- ``cap``             an order as an OASIS CAP 1.2 document
- ``reports``         field reports (巡查上报), with photos
- ``hooks``           the SMS gateways' signed webhooks: status callbacks and replies
- ``pages``           the town's acknowledgement page ``/a/{token}`` (HTML, not in the schema)

Writes need a role (floodctl.auth.deps); reads follow the viewer rule. Webhooks are authenticated by
Twilio-style signatures instead (403 when forged), the page by its signed, expiring, single-use link.
"""
