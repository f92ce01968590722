"""The WhatsApp Cloud API (Meta's Graph API): the official alternative to a linked-device socket."""
