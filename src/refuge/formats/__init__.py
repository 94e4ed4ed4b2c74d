"""Web formats: URLs and SURT keys, links in HTML and CSS, charsets. Imports nothing else of Refuge's."""
