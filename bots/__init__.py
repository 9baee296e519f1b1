"""Staff chat commands (/stats, /leads, /sla) and automation rules. Filled in by the
Slack/Telegram and NLP issues; it receives text and a staff user and returns a reply."""
