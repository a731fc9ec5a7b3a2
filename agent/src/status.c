/* ward_status_str(): the one table of status descriptions. */
#include "ward/status.h"

const char *ward_status_str(ward_status_t status)
{
    switch (status) {
    case WARD_OK: return "ok";
    case WARD_E_ARG: return "invalid argument";
    case WARD_E_BUFFER: return "buffer too small";
    case WARD_E_INCOMPLETE: return "input incomplete";
    case WARD_E_MALFORMED: return "input malformed";
    case WARD_E_UNSUPPORTED: return "unsupported version or feature";
    case WARD_E_AGAIN: return "try again later";
    case WARD_E_TRANSPORT: return "transport failed";
    case WARD_E_FULL: return "table full";
    case WARD_NOTHING: return "nothing to do";
    case WARD_DROP: return "drop packet";
    case WARD_E_RANGE: return "value out of range";
    case WARD_E_NOMEM: return "out of memory";
    case WARD_E_IO: return "I/O error";
    }
    return "unknown status";
}
