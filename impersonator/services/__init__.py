"""The rules. Services never touch `flask.request`; they take explicit arguments (actor, ip, now)
and raise `DomainError`s carrying a reason code, which views turn into messages."""
