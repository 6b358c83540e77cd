"""The tenant face: every tenant domain, for the tenant's own users (DESIGN §2)."""
