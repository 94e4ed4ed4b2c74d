"""The static export: one capture of a target as files with relative links, to work from a
bucket, an IPFS gateway path, file:// or a USB stick. exporter (``refuge export``) reads
what it needs of the capture from storage once, at its start (storage.capture_records),
then plan decides which records become files and where any URL lives (plan: a pure
function of those records; paths: where a URL lives as a file, and the relative hrefs
between files); each file is then written from its record (storage.warc.payloads'
open_payload), pages and stylesheets rewritten through the export's URL policy for the one
HTML rewriter (policy, with scripts and site: which scripts are kept; banner: what every
page gets besides its content), into a tree built beside OUT and swapped in whole (tree),
with the root pages (root), the offline search over the pages (offline_search: search.html
and its index and script) and, for a database target, the records as a searchable offline
index (data). dataset (``refuge dataset``) writes a database snapshot as JSON Lines, CSV or
SQLite. Nothing here imports mirror.replay; publish and cli use export_capture.
"""
