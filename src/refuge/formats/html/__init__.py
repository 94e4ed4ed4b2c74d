"""HTML, read as browsers read it, with no I/O: where its tags lie (tokenizer, grammar), which
attributes hold URLs of which kind (attrs), the links a crawler follows (extract), and THE
rewriter (rewriter) that copies a page through exactly and edits its links as a policy says
(policy: replay's and the static export's are two policies of the same rewriter). utf8_view
lets a rewriter read a UTF-8 page as its bytes; text gives a page's title and readable text.
"""
