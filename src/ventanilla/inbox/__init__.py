"""The inbox of a service point: conversations, their messages and history, and what agents do with them."""
