"""The bot's audit trail for administrators: every tool call, what it looked up and what came back."""
