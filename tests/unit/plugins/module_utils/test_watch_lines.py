"""Watch streams are newline-delimited JSON split across arbitrary HTTP chunks."""

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.watch import iter_lines


class ChunkedBody(object):
    """The one method of a urllib3 response that iter_lines uses, over recorded chunks."""

    def __init__(self, chunks):
        self.chunks = chunks

    def stream(self, amt, decode_content):
        assert amt is None and decode_content is False
        return iter(self.chunks)


def test_lines_are_reassembled_across_chunks():
    chunks = [b'{"type":"ADDED"', b',"object":{}}\n{"type":"MOD', b'IFIED","object":{}}\n\n', b'{"type":"DELETED"}']
    assert list(iter_lines(ChunkedBody(chunks))) == [
        b'{"type":"ADDED","object":{}}', b'{"type":"MODIFIED","object":{}}', b'{"type":"DELETED"}']


def test_empty_stream_has_no_lines():
    assert list(iter_lines(ChunkedBody([]))) == []
    assert list(iter_lines(ChunkedBody([b"\n", b"  \n"]))) == []
