"""FAQs: answers the bot may give word for word, per service point or for every branch (global)."""
