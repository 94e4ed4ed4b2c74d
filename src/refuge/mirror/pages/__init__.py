"""Reader chrome that the replay server and the static export share, so a reader sees the
same thing from either.

    reader      the reader page (Khmer first, no script, inline CSS) and its bilingual text
    banner      the bar at the top of every archived page: what it is, when it was captured,
                the original URL, links; the callers supply the links
    data_table  the records table of a database snapshot
    withheld    the notice shown instead of a page that was taken down, with its reason

Nothing here imports replay/ or export/; what differs between them (links, URLs) is passed in.
"""
