"""Messages out, at least once: the outbox, its worker and senders, mail, webhooks, Slack."""
