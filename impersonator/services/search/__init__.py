"""The console's user search across all tenants, and its SQL for each database."""
