"""Capture and orchestration: fetching, crawling, WARC writing, the scheduler, the CLI."""
