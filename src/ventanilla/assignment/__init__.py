"""Who answers a handed-off conversation: agents' availability, the point's business hours, and the assigner."""
