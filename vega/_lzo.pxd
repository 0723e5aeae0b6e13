# cython: language_level=3
# PLACEHOLDER until the LZO1Z codec lands: every stream is rejected as corrupt.
from libc.stdint cimport uint8_t

cdef inline Py_ssize_t lzo1z_decompress(const uint8_t* src, Py_ssize_t src_len, uint8_t* dst,
                                        Py_ssize_t dst_cap) noexcept nogil:
    return -1
