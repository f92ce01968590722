"""WhatsApp sessions: one socket per service point, the state machine around it, and the HTTP API to drive it."""
