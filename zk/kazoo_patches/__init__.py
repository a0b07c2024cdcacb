"""Patches to kazoo's client, one module per patch; ``zk.connection`` composes them.

Each patch overrides private methods of kazoo's ``ConnectionHandler`` or
``KazooClient`` and follows their code as of kazoo 2.11.0 (unchanged, but
for formatting, since 2.9.0: setup.cfg pins ``kazoo>=2.9,<2.12``). A new
kazoo release means reading those methods again before raising the pin.

=====================  ==========================================  ==========================
module                 what it does                                overrides
=====================  ==========================================  ==========================
``recursive_watch``    ZooKeeper 3.6's addWatch request and its    ``_read_watch_event``
                       events (kazoo PR #715, not merged)
``wakeup``             one wake-up byte per burst, one write per   ``KazooClient._call``,
                       wake-up (kazoo issue #486)                  ``_send_request``
``buffered_read``      one ``recv`` for every answer that has      ``_connect``, ``_read``,
                       arrived                                     ``_read_socket``
``unimplemented``      an UNIMPLEMENTED answer fails its own       ``_read_response``
                       request, not the connection's loop
=====================  ==========================================  ==========================
"""
