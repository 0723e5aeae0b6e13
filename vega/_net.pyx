# cython: language_level=3
"""Batch UDP receive and send for the capture and the simulator.

``BatchReceiver(fd, batch, size)`` takes up to ``batch`` datagrams per ``recvmmsg`` call into preallocated
slots.  ``feed(handler)`` hands the slots straight to a :class:`vega._core.FeedHandler`'s nogil loop (no
Python object per datagram) and repeats while full batches come back: the capture's receive path.
``recv(timeout_ms)`` returns them as a list of bytes instead (tests, tools).  ``send_batch(fd, datagrams,
start, count)`` sends a slice of a list of bytes with one ``sendmmsg`` call on a connected socket.  Linux
only (both calls are Linux/glibc).
"""
cimport cython                           # @cython.binding(False) on the classes: see vega/_core.pyx
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, ENOBUFS, errno
from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint32_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset, strerror
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME

from vega._core cimport FeedHandler, vg_feed_buffers

cdef extern from "<sys/socket.h>" nogil:
    int recvmmsg(int fd, mmsghdr* msgs, unsigned int n, int flags, void* timeout)
    int sendmmsg(int fd, mmsghdr* msgs, unsigned int n, int flags)
    int setsockopt(int fd, int level, int name, const void* value, socklen_t length)
    cmsghdr* CMSG_FIRSTHDR(msghdr* m)
    cmsghdr* CMSG_NXTHDR(msghdr* m, cmsghdr* c)
    unsigned char* CMSG_DATA(cmsghdr* c)

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
    NET_CTRL_SIZE = 64                      # control-message room per slot (one SCM_TIMESTAMPNS needs 32)


cdef object _oserror(int err):
    return OSError(err, strerror(err).decode())


cdef inline int64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000LL + ts.tv_nsec


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class BatchReceiver:
    """Receives datagrams from a bound UDP socket ``fd`` in batches (``recvmmsg``).

    ``batch``: datagrams per call (1..4096); ``size``: bytes per datagram slot (a longer datagram is cut to
    it and counted in ``truncated``); ``timestamps``: turn on the kernel's receive time (``SO_TIMESTAMPNS`` on
    ``fd``) and give it to the FeedHandler in :meth:`feed` instead of reading the clock per datagram;
    ``drops``: turn on ``SO_RXQ_OVFL`` on ``fd`` and count in ``dropped`` the datagrams the kernel dropped
    because the socket's receive buffer was full (the kernel reports its count with the datagrams it queues
    after a drop, so drops after the last datagram received show with the next one).  The
    socket is not owned: close it yourself after this object.  One call at a time: a ``recv()`` or ``feed()``
    while another thread's runs raises RuntimeError (both would use the same slots)."""

    def __cinit__(self, int fd, int batch=256, int size=2048, bint timestamps=False, bint drops=False):
        cdef uint32_t i
        cdef int one = 1
        if fd < 0:
            raise ValueError("fd must be an open socket")
        if not 1 <= batch <= NET_MAX_BATCH:
            raise ValueError(f"batch must be in 1..{NET_MAX_BATCH}")
        if not 64 <= size <= NET_MAX_SIZE:
            raise ValueError(f"size must be in 64..{NET_MAX_SIZE}")
        self._fd = fd
        self._batch = batch
        self._size = size
        self._stamps = timestamps
        self._drops = drops
        # slots one cache line apart from a power of two: datagrams are much shorter than a slot, so with a
        # 2 KiB stride every slot's first lines would fall into the same few cache sets
        self._stride = ((<size_t>size + 63) & ~(<size_t>63)) + 64
        self._buf = <uint8_t*>malloc(<size_t>batch * self._stride)
        self._iov = <iovec*>calloc(batch, sizeof(iovec))
        self._msgs = <mmsghdr*>calloc(batch, sizeof(mmsghdr))
        self._ptrs = <const uint8_t**>calloc(batch, sizeof(uint8_t*))
        self._lens = <Py_ssize_t*>calloc(batch, sizeof(Py_ssize_t))
        self._times = <int64_t*>calloc(batch, sizeof(int64_t))
        if timestamps or drops:
            self._ctrl = <uint8_t*>calloc(batch, NET_CTRL_SIZE)
        if (self._buf == NULL or self._iov == NULL or self._msgs == NULL or self._ptrs == NULL
                or self._lens == NULL or self._times == NULL or ((timestamps or drops) and self._ctrl == NULL)):
            raise MemoryError()
        if timestamps and setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0:
            raise _oserror(errno)
        if drops and setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0:
            raise _oserror(errno)
        # touch the slots now: no page faults in the first batches
        memset(self._buf, 0, <size_t>batch * self._stride)
        for i in range(self._batch):
            self._iov[i].iov_base = self._buf + <size_t>i * self._stride
            self._iov[i].iov_len = size
            self._ptrs[i] = self._buf + <size_t>i * self._stride
            self._msgs[i].msg_hdr.msg_iov = &self._iov[i]
            self._msgs[i].msg_hdr.msg_iovlen = 1
            if timestamps or drops:
                self._msgs[i].msg_hdr.msg_control = self._ctrl + <size_t>i * NET_CTRL_SIZE
                self._msgs[i].msg_hdr.msg_controllen = NET_CTRL_SIZE

    def __reduce__(self):
        raise TypeError("cannot pickle a vega BatchReceiver (slots for a socket of this process): make one for "
                        "the socket in the process that receives")

    def __dealloc__(self):
        free(self._buf)
        free(self._iov)
        free(self._msgs)
        free(self._ptrs)
        free(self._lens)
        free(self._times)
        free(self._ctrl)

    cdef int _recv_c(self, int timeout_ms) except -1:
        """One wait (``timeout_ms``: 0 none, -1 forever) and one recvmmsg call into the slots; fills
        ``_lens`` (and ``_times`` with timestamps) and the counters.  Returns the datagrams received, 0 on
        timeout, EAGAIN or EINTR; raises OSError on a socket error."""
        cdef pollfd p
        cdef int r, k, err = 0
        cdef uint32_t i
        cdef unsigned int n
        cdef cmsghdr* c
        cdef msghdr* h
        cdef timespec ts
        cdef int64_t now = 0, nbytes = 0, ntrunc = 0, ndrop = 0
        cdef uint32_t ovfl
        p.fd = self._fd
        p.events = POLLIN
        p.revents = 0
        self._last = 0
        with nogil:
            r = 1
            if timeout_ms != 0:
                r = poll(&p, 1, timeout_ms)
                if r < 0:
                    err = errno
            if r > 0:
                # every slot is ready for the call: msg_controllen is reset after each use below (the kernel
                # overwrites it, and msg_flags, only in the slots it fills)
                r = recvmmsg(self._fd, self._msgs, self._batch, MSG_DONTWAIT, NULL)
                if r < 0:
                    err = errno
            for k in range(r):
                h = &self._msgs[k].msg_hdr
                n = self._msgs[k].msg_len
                self._lens[k] = n
                nbytes += n
                if h.msg_flags & MSG_TRUNC:
                    ntrunc += 1
                if self._stamps or self._drops:
                    if self._stamps:
                        self._times[k] = -1
                    c = CMSG_FIRSTHDR(h)
                    while c != NULL:
                        if c.cmsg_level == SOL_SOCKET:
                            if c.cmsg_type == SCM_TIMESTAMPNS:
                                memcpy(&ts, CMSG_DATA(c), sizeof(timespec))
                                self._times[k] = <int64_t>ts.tv_sec * 1000000000LL + ts.tv_nsec
                            elif c.cmsg_type == SO_RXQ_OVFL:
                                # the socket's drops since it was made, when this datagram was queued (only
                                # sent once non-zero); cumulative and 32-bit: count the step since the last
                                memcpy(&ovfl, CMSG_DATA(c), sizeof(uint32_t))
                                ndrop += <uint32_t>(ovfl - self._ovfl)
                                self._ovfl = ovfl
                        c = CMSG_NXTHDR(h, c)
                    if self._stamps and self._times[k] < 0:    # no stamp (should not happen): now
                        if now == 0:
                            now = _now_ns()
                        self._times[k] = now
                    h.msg_controllen = NET_CTRL_SIZE     # room again for the next call
        if r <= 0:
            if r == 0 or err == EAGAIN or err == EINTR:
                return 0
            raise _oserror(err)
        self.bytes += nbytes
        self.truncated += ntrunc
        self.dropped += ndrop
        self.calls += 1
        self.datagrams += r
        self._last = r
        return r

    cdef int _enter(self) except -1:
        """With the GIL, at the start of recv() / feed(): one call at a time.  A second thread's call would
        receive into the same slots while the first reads them (datagrams lost or read twice)."""
        if self._busy:
            raise RuntimeError("this BatchReceiver is in use by a call in another thread: give each thread "
                               "its own receiver (and socket)")
        self._busy = 1
        return 0

    def recv(self, int timeout_ms=0) -> list:
        """Up to ``batch`` datagrams as a list of bytes; waits at most ``timeout_ms`` (0: do not wait, -1:
        forever) for the first one, then takes what is queued without waiting.  [] on timeout or EINTR;
        OSError on a socket error; RuntimeError while another thread's recv() or feed() runs."""
        cdef int r, k, a = 0
        cdef list out
        self._enter()
        try:
            if self._held_end > self._held_at:          # held by feed(stop_ns=): first, before the slots refill
                a, r = self._held_at, self._held_end
                self._held_at = self._held_end = 0
            else:
                r = self._recv_c(timeout_ms)
            out = [None] * (r - a)
            for k in range(a, r):
                out[k - a] = PyBytes_FromStringAndSize(<char*>self._ptrs[k], self._lens[k])
        finally:
            self._busy = 0
        return out

    def recv_times(self) -> list:
        """The receive times (ns since the epoch) of the datagrams of the last recvmmsg call, the kernel's
        (``timestamps``); [] without ``timestamps``."""
        return [self._times[k] for k in range(self._last)] if self._stamps else []

    def feed(self, FeedHandler handler not None, int timeout_ms=0, int max_calls=64, stop_ns=None) -> int:
        """Receive and process: wait at most ``timeout_ms`` for the first datagram, then hand each
        recvmmsg batch straight from the slots to ``handler``'s nogil decode-and-merge loop (no bytes object
        per datagram); repeat while full batches come back (a short batch means the queue is drained), at
        most ``max_calls`` batches.  The datagrams are stamped with the kernel's receive time when this
        receiver has ``timestamps``, else with the clock as they are processed.  ``stop_ns`` (ns since the
        epoch, None for none): with ``timestamps``, the first datagram received at or after it (the next
        trading day's start) and those after it are held in the slots, unprocessed (``held_ns`` says when it
        came), and the next call (or ``recv``) takes them first: the caller turns the day over between.
        Returns the datagrams processed; their messages are added to ``messages``.  RuntimeError while another
        thread's recv() or feed() runs."""
        cdef int r, a, k, i, total = 0, calls = 0
        cdef int64_t stop = INT64_MAX if stop_ns is None else stop_ns
        if max_calls < 1:
            raise ValueError("max_calls must be >= 1")
        self._enter()
        try:
            while calls < max_calls:
                if self._held_end > self._held_at:      # held by the last call: first, before the slots refill
                    a, r = self._held_at, self._held_end
                    self._held_at = self._held_end = 0
                else:
                    a = 0
                    r = self._recv_c(timeout_ms if calls == 0 else 0)
                    if r == 0:
                        break
                calls += 1
                k = r
                if self._stamps and stop != INT64_MAX:
                    for i in range(a, r):
                        if self._times[i] >= stop:
                            k = i
                            break
                if k < r:                               # the next day's: held for the caller to turn it over
                    self._held_at, self._held_end = k, r    # (first: a journal error raised below keeps them)
                if k > a:
                    self.messages += vg_feed_buffers(handler, self._ptrs + a, self._lens + a,
                                                     self._times + a if self._stamps else NULL, k - a)
                    total += k - a
                if k < r:
                    break
                if a == 0 and <uint32_t>r < self._batch:
                    break
        finally:
            self._busy = 0
        return total

    @property
    def held_ns(self) -> int:
        """Receive time of the first datagram ``feed(stop_ns=)`` held back (ns since the epoch), -1 when none
        is held."""
        return self._times[self._held_at] if self._held_end > self._held_at else -1

    @property
    def batch(self) -> int:
        """Datagrams per call."""
        return self._batch

    @property
    def size(self) -> int:
        """Bytes per datagram slot."""
        return self._size

    @property
    def timestamps(self) -> bool:
        """Whether the kernel's receive times are used."""
        return self._stamps


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
    if count < 0 or count > n - start:          # (not start + count > n: that overflows for a count near 2**63)
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
