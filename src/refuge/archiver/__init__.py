"""The capture engine: a target's URLs fetched within scope (scope, robots), by worker
processes (workerpool, worker, fetch) that write gzipped WARC records (warcwriter) and find
the links to follow (links); crawl drives a page capture, dbcrawl and dbpages a database's
listings and records, snapshot turns a database capture into rows; capture runs one
capture of one target from start to sealed files. Nothing here knows about the CLI, the
scheduler or readers."""
