"""The replay server: the full history of every target, Wayback-style, from the catalog.

    app           the WSGI app and its routes (/, /web/..., /data/..., /mirrors)
    serve_record  the response for one indexed record, rewritten as it streams
    policy        where replayed links point: /web/<ts><mod>/<url>
    pages         the pages only the server shows (front page, capture list, errors) and
                  the replayed page's banner
    data_pages    /data/NAME/: a database target's newest snapshot as a searchable table
    search_page   /search: full-text search of every captured page (storage.catalog.search)
    cdx_api       /cdx: the CDX server API (pywb's, the Wayback Machine's); cdx_params reads
                  its parameters, cdx_rows prints its rows
    memento       Memento (RFC 7089): TimeGate and memento headers, /timemap/ pages
    assets        /_refuge/replay.js, the script replayed pages load first: it points the URLs
                  their own scripts make into the archive (static/replay.js)
    fallback      a root path asked from a replayed page (its Referer), sent to its site in the archive
    server        running the app under waitress

Archived pages are untrusted: they are served under a sandboxing Content-Security-Policy,
on an origin that holds no admin cookies. The app holds no state but the settings and the
catalog engine. It never imports mirror.export.
"""
