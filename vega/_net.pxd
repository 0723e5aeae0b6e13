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
        void* msg_control                   # ancillary data (unused)
        size_t msg_controllen               # its length
        int msg_flags                       # flags of the received message (MSG_TRUNC ...)
    struct mmsghdr:
        msghdr msg_hdr                      # one message
        unsigned int msg_len                # bytes received / sent for it
    int MSG_DONTWAIT
    int MSG_TRUNC


cdef class BatchReceiver:
    cdef int _fd                            # the socket (not owned)
    cdef uint32_t _batch                    # datagrams per recvmmsg call
    cdef uint32_t _size                     # bytes per datagram slot (larger ones are truncated)
    cdef uint8_t* _buf                      # _batch * _size bytes
    cdef iovec* _iov                        # one per slot
    cdef mmsghdr* _msgs                     # one per slot
    cdef readonly int64_t calls             # recvmmsg calls that returned datagrams
    cdef readonly int64_t datagrams         # datagrams received
    cdef readonly int64_t truncated         # datagrams longer than the slot (cut, counted)
    cdef readonly int64_t bytes             # payload bytes received
