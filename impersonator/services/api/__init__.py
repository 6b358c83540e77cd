"""The console's JSON API for security tooling (DESIGN §12): API keys (`keys`), who a call is and
how it is audited (`calls`), and the reads and the terminate it serves (`queries`, `sessions`)."""
