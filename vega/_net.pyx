# cython: language_level=3
"""Batch UDP receive and send for the capture and the simulator.

``BatchReceiver(fd, batch, size).recv(timeout_ms)`` waits (poll) with the GIL released, then takes up to
``batch`` datagrams in one ``recvmmsg`` call into a preallocated buffer and returns them as a list of bytes,
ready for ``FeedHandler.process_batch``.  ``send_batch(fd, datagrams, start, count)`` sends a slice of a list
of bytes with one ``sendmmsg`` call on a connected socket.  Linux only (both calls are Linux/glibc).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, ENOBUFS, errno
from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport strerror

cdef extern from "<sys/socket.h>" nogil:
    int recvmmsg(int fd, mmsghdr* msgs, unsigned int n, int flags, void* timeout)
    int sendmmsg(int fd, mmsghdr* msgs, unsigned int n, int flags)

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd                              # descriptor
        short events                        # requested events
        short revents                       # returned events
    short POLLIN
    int poll(pollfd* fds, unsigned long nfds, int timeout)

cdef enum:
    NET_MAX_BATCH = 4096                    # upper bound of a batch (datagrams per call)
    NET_MAX_SIZE = 65536                    # upper bound of a slot (a UDP datagram is smaller)


cdef object _oserror(int err):
    return OSError(err, strerror(err).decode())


cdef class BatchReceiver:
    """Receives datagrams from a bound UDP socket ``fd`` in batches (``recvmmsg``).

    ``batch``: datagrams per call (1..4096); ``size``: bytes per datagram slot (a longer datagram is cut to
    it and counted in ``truncated``).  The socket is not owned: close it yourself after this object."""

    def __cinit__(self, int fd, int batch=256, int size=2048):
        cdef uint32_t i
        if fd < 0:
            raise ValueError("fd must be an open socket")
        if not 1 <= batch <= NET_MAX_BATCH:
            raise ValueError(f"batch must be in 1..{NET_MAX_BATCH}")
        if not 64 <= size <= NET_MAX_SIZE:
            raise ValueError(f"size must be in 64..{NET_MAX_SIZE}")
        self._fd = fd
        self._batch = batch
        self._size = size
        self._buf = <uint8_t*>malloc(<size_t>batch * size)
        self._iov = <iovec*>calloc(batch, sizeof(iovec))
        self._msgs = <mmsghdr*>calloc(batch, sizeof(mmsghdr))
        if self._buf == NULL or self._iov == NULL or self._msgs == NULL:
            raise MemoryError()
        for i in range(self._batch):
            self._iov[i].iov_base = self._buf + <size_t>i * size
            self._iov[i].iov_len = size
            self._msgs[i].msg_hdr.msg_iov = &self._iov[i]
            self._msgs[i].msg_hdr.msg_iovlen = 1

    def __dealloc__(self):
        free(self._buf)
        free(self._iov)
        free(self._msgs)

    def recv(self, int timeout_ms=0) -> list:
        """Up to ``batch`` datagrams as a list of bytes; waits at most ``timeout_ms`` (0: do not wait, -1:
        forever) for the first one, then takes what is queued without waiting.  [] on timeout or EINTR;
        OSError on a socket error."""
        cdef pollfd p
        cdef int r, k, err = 0
        cdef uint32_t i
        cdef list out
        p.fd = self._fd
        p.events = POLLIN
        p.revents = 0
        with nogil:
            r = 1
            if timeout_ms != 0:
                r = poll(&p, 1, timeout_ms)
                if r < 0:
                    err = errno
            if r > 0:
                for i in range(self._batch):
                    self._msgs[i].msg_hdr.msg_flags = 0
                r = recvmmsg(self._fd, self._msgs, self._batch, MSG_DONTWAIT, NULL)
                if r < 0:
                    err = errno
        if r <= 0:
            if r == 0 or err == EAGAIN or err == EINTR:
                return []
            raise _oserror(err)
        out = [None] * r
        for k in range(r):
            out[k] = PyBytes_FromStringAndSize(<char*>self._iov[k].iov_base, self._msgs[k].msg_len)
            self.bytes += self._msgs[k].msg_len
            if self._msgs[k].msg_hdr.msg_flags & MSG_TRUNC:
                self.truncated += 1
        self.calls += 1
        self.datagrams += r
        return out

    @property
    def batch(self) -> int:
        """Datagrams per call."""
        return self._batch

    @property
    def size(self) -> int:
        """Bytes per datagram slot."""
        return self._size


def send_batch(int fd, list datagrams, Py_ssize_t start=0, Py_ssize_t count=-1) -> int:
    """Send ``datagrams[start:start+count]`` (bytes objects; ``count`` -1 = to the end) on the connected UDP
    socket ``fd`` with ``sendmmsg`` calls of at most 1024 messages.  Returns how many were sent: fewer than
    asked when the socket would block (EAGAIN / ENOBUFS on a non-blocking socket).  OSError otherwise."""
    cdef Py_ssize_t n = len(datagrams), i, done = 0
    cdef int r = 0, err = 0
    cdef uint32_t k, chunk
    cdef iovec* iov
    cdef mmsghdr* msgs
    if start < 0 or start > n:
        raise ValueError("start out of range")
    if count < 0 or start + count > n:
        count = n - start
    if count == 0:
        return 0
    chunk = <uint32_t>min(count, 1024)
    iov = <iovec*>calloc(chunk, sizeof(iovec))
    msgs = <mmsghdr*>calloc(chunk, sizeof(mmsghdr))
    if iov == NULL or msgs == NULL:
        free(iov)
        free(msgs)
        raise MemoryError()
    try:
        while done < count:
            k = <uint32_t>min(count - done, chunk)
            for i in range(k):
                d = datagrams[start + done + i]
                if type(d) is not bytes:
                    raise TypeError(f"send_batch takes bytes, got {type(d).__name__}")
                iov[i].iov_base = PyBytes_AS_STRING(d)
                iov[i].iov_len = PyBytes_GET_SIZE(d)
                msgs[i].msg_hdr.msg_iov = &iov[i]
                msgs[i].msg_hdr.msg_iovlen = 1
            with nogil:
                r = sendmmsg(fd, msgs, k, 0)
                if r < 0:
                    err = errno
            if r < 0:
                if err == EAGAIN or err == ENOBUFS or err == EINTR:
                    break
                raise _oserror(err)
            done += r
            if <uint32_t>r < k:
                break
    finally:
        free(iov)
        free(msgs)
    return done
