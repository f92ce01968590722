"""A conversation's life after the handoff: resolved (by an agent, or idle for the point's `auto_resolve_hours`),
the customer asked for a 1-5 rating when the point wants it, and opened again as BOT by the customer's next message.
"""
