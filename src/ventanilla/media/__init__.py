"""Photos, voice notes, videos, documents and stickers: their files, downloads, access and retention."""
