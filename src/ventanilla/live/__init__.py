"""Live updates per service point: status changes, QR codes, new messages, handoffs, streamed as SSE."""
