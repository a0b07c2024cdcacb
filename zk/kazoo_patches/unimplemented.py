"""An UNIMPLEMENTED answer fails its own request, not the connection.

A server that does not know a request (addWatch before ZooKeeper 3.6)
answers it at once, ahead of the requests sent before it, and drops the
connection. kazoo 2.11.0's ``ConnectionHandler._read_response`` takes the
mismatched answer for a broken stream ("xids do not match") and stops its
loop for good. Here that request alone fails with ``UnimplementedError``
and the connection drops, as the server meant it to (kazoo reconnects).
No upstream issue; kazoo issue #254 is the same "xids do not match" error
from other causes. Any other answer goes to kazoo's ``_read_response``.
"""

from kazoo.exceptions import ConnectionDropped, UnimplementedError


class UnimplementedConnection:
    """Mixin for kazoo's ``ConnectionHandler``."""

    def _read_response(self, header, buffer, offset):
        pending = self.client._pending
        if header.err == UnimplementedError.code and pending and pending[0][2] != header.xid:
            for entry in list(pending):  # kazoo's (request, async_object, xid)
                _request, async_object, xid = entry
                if xid == header.xid:
                    pending.remove(entry)
                    async_object.set_exception(UnimplementedError())
                    break
            raise ConnectionDropped("ZooKeeper does not know request %d" % header.xid)
        return super()._read_response(header, buffer, offset)
