"""Meta connectors: Facebook Pages and Instagram professional accounts (poll, webhooks, write-back)."""
