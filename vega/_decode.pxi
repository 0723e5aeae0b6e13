# Decoder: placeholder until the real decoder lands (same module as the store: one compilation unit).

cdef int vg_code_slot(uint16_t code) noexcept nogil:
    return -1

cdef int vg_decode_datagram(vg_decoder_t* dec, const uint8_t* data, Py_ssize_t length,
                            vg_msg_sink sink, void* ctx) noexcept nogil:
    return 0
