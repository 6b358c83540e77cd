"""Example host apps of the integration kit (impersonator/kit)."""
