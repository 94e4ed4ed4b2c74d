"""The network room: the one guarded HTTP session (session.py) that the crawler and the
mirror checks both use, so that what may be connected to is decided in one place -- on the
socket's real peer address, at every new connection, before anything is sent -- and never
by the environment's proxy settings or credentials. What to admit is the caller's policy
(the crawler refuses private addresses; a mirror check also watches its deadline); how
connections are made and shown to that policy lives here.
"""
