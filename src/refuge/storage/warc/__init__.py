"""WARC files: reading one record at an offset (records), the payload a response or revisit
stands for (payloads), and sealed files -- an open file renamed, hashed and indexed into the
catalog once complete, and what a crash leaves behind set aside (sealed)."""
