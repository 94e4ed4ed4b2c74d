"""Where bytes live and how they are found: the catalog, WARC files, the CDXJ index."""
