"""Canned responses: ready replies an agent inserts in the reply box by typing `/shortcut`."""
