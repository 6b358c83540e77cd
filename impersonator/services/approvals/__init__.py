"""Approvals (DESIGN §11): a request that someone else decides before any token exists.

`rules` says what a request needs (reason code, ticket, who approves, break-glass); `requests` opens,
withdraws and reads them; `decisions` records the customer's and a second staff member's decisions
and the security officer's break-glass review; `closing` uses an approval once and ends the ones
nobody decided (the sweep) or that a switch or lost standing made moot. Every state change is an
audit event in the chain, and each reaches webhooks (delivery/events.py).
"""
