"""WARC files: reading one record at an offset (records), the payload a response or revisit
stands for (payloads), and sealed files -- an open file renamed, hashed and indexed into the
catalog once complete, and what a crash leaves behind set aside (sealed); a WARC file made
elsewhere read whole, checked and indexed before it is imported (validate)."""
