"""Product-wide settings and the admin's switches: the global kill switch and each tenant's policy."""
