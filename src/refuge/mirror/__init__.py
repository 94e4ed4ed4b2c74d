"""Reading: the replay server, link rewriting, reader pages."""
