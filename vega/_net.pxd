# cython: language_level=3
"""Batch UDP receive and send (Linux recvmmsg / sendmmsg) for the capture and the simulator."""
from libc.stdint cimport uint8_t, uint32_t, int64_t

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base                      # start of the buffer
        size_t iov_len                      # its length, bytes

cdef extern from "<sys/socket.h>" nogil:
    ctypedef uint32_t socklen_t
    struct msghdr:
        void* msg_name                      # peer address (NULL: connected / not wanted)
        socklen_t msg_namelen               # its length
        iovec* msg_iov                      # scatter/gather list
        size_t msg_iovlen                   # entries in msg_iov
        void* msg_control                   # ancillary data (the SO_TIMESTAMPNS receive time, or NULL)
        size_t msg_controllen               # its length (in: room; out: bytes written by the kernel)
        int msg_flags                       # flags of the received message (MSG_TRUNC ...)
    struct mmsghdr:
        msghdr msg_hdr                      # one message
        unsigned int msg_len                # bytes received / sent for it
    struct cmsghdr:
        size_t cmsg_len                     # bytes of this control message, header included
        int cmsg_level                      # originating protocol (SOL_SOCKET)
        int cmsg_type                       # protocol-specific type (SCM_TIMESTAMPNS)
    int MSG_DONTWAIT
    int MSG_TRUNC
    int SOL_SOCKET
    int SO_TIMESTAMPNS
    int SCM_TIMESTAMPNS
    int SO_RXQ_OVFL                         # the socket's drop count (uint32) on each received datagram


cdef class BatchReceiver:
    cdef int _fd                            # the socket (not owned)
    cdef uint32_t _batch                    # datagrams per recvmmsg call
    cdef uint32_t _size                     # bytes per datagram slot (larger ones are truncated)
    cdef bint _stamps                       # 1: kernel receive times (SO_TIMESTAMPNS) are requested and used
    cdef bint _drops                        # 1: the kernel's drop count (SO_RXQ_OVFL) is requested and read
    cdef uint32_t _ovfl                     # the last drop count the kernel reported (cumulative, wraps)
    cdef size_t _stride                     # bytes from one slot to the next (_size rounded up to a cache line, + one)
    cdef uint8_t* _buf                      # _batch * _stride bytes
    cdef iovec* _iov                        # one per slot
    cdef mmsghdr* _msgs                     # one per slot
    cdef const uint8_t** _ptrs              # one per slot: its start (fixed: the slots never move)
    cdef Py_ssize_t* _lens                  # one per slot: bytes received in the last call
    cdef int64_t* _times                    # one per slot: receive time of the last call, ns since the epoch
    cdef uint8_t* _ctrl                     # one control-message area per slot (_stamps or _drops), NET_CTRL_SIZE each
    cdef int _last                          # datagrams in the slots from the last call
    cdef int _held_at, _held_end            # slots [_held_at, _held_end) received, held by feed(stop_ns=)
    cdef int _busy                          # 1 while recv() or feed() runs: the slots are that call's
    cdef readonly int64_t calls             # recvmmsg calls that returned datagrams
    cdef readonly int64_t datagrams         # datagrams received
    cdef readonly int64_t truncated         # datagrams longer than the slot (cut, counted)
    cdef readonly int64_t dropped           # datagrams the kernel dropped on this socket (its buffer was full),
                                            # as reported with later datagrams (drops=True)
    cdef readonly int64_t bytes             # payload bytes received
    cdef readonly int64_t messages          # messages decoded by feed() (FeedHandler's count)
    cdef int _recv_c(self, int timeout_ms) except -1
    cdef int _enter(self) except -1
