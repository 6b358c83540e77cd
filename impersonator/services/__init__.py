"""The rules, grouped by capability (one subpackage each); the modules at this level are building
blocks every capability uses: domain errors, input validation, keys and encryption, passwords,
failure counting, links to other hosts, the tenant registry, and demo data.

Services never touch `flask.request`; they take explicit arguments (actor, ip, now) and raise
`DomainError`s carrying a reason code, which views turn into messages."""
