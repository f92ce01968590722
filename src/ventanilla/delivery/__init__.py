"""The outbox: every outgoing message is committed PENDING first, then sent once by the delivery worker."""
