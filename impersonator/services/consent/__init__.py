"""The customer's consent: opt-in, support access codes, and the history of access to their account."""
