"""Pure Block Kit builders: domain data in, Slack dicts out, always within Slack's limits."""
