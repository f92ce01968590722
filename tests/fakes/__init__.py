"""Stand-ins for outside services, run locally so tests exercise the real clients against them."""
