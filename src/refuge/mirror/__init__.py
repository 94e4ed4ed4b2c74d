"""What readers get: archived pages they can open, read and pass on, with no tracker and no
call to the blocked origin, Khmer first.

    pages/    the chrome shared by everything below: the bilingual reader page, the banner
              put at the top of every archived page, the records table of a database
    replay/   the replay server: every capture of every URL, rewritten to point back into
              the archive (/web/<ts><mod>/<url>), its reader pages, /data pages
    export/   the static export: one capture as files with relative links, to work from a
              bucket, an IPFS gateway path or a USB stick
    publish/  putting exports on S3 and IPFS, the signed mirror list, checking that each
              mirror can still be reached

pages/ imports none of the others (it sits under all three). replay and export never import
each other: each has its own URL policy for the one HTML rewriter (formats.html); publish may
use export.
"""
