"""Everything Slack: Bolt listeners and the Block Kit views they render."""
