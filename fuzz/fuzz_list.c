/*
 * fuzz_list.c -- libnws's listing parsers (libnws/list.c), on memory.
 *
 * The first byte chooses the parser (even: `list wss`, odd: `list vars`);
 * the rest is the listing text as the server would send it.  Properties:
 * the raw text is kept whole, every item's strings are NUL-terminated
 * copies no longer than the input, and a failure leaves an error code.
 */
#include <string.h>

#include "fuzz.h"
#include "nwsp.h"

int
nwsfuzz_list(const uint8_t *data, size_t size)
{
    const char   *text = (const char *)data + 1;
    size_t        len, i, j;
    nws_error     err;
    nws_ws_list  *wl;
    nws_var_list *vl;

    if (size < 1)
        return 0;
    len = size - 1;
    if (data[0] % 2 == 0) {
        wl = nws_ws_list_parse(text, len, &err);
        if (wl == NULL) {
            FUZZ_ASSERT(err.code == NWS_ERR_PROTOCOL || err.code == NWS_ERR_NOMEM);
            return 0;
        }
        FUZZ_ASSERT(wl->raw_len == len && memcmp(wl->raw, text, len) == 0);
        for (i = 0; i < wl->count; i++) {
            FUZZ_ASSERT(strlen(wl->items[i].name) <= len);
            FUZZ_ASSERT(strlen(wl->items[i].owner) <= len);
            for (j = 0; j < wl->items[i].nvars_listed; j++)
                FUZZ_ASSERT(strlen(wl->items[i].vars[j]) <= len);
        }
        nws_ws_list_free(wl);
    } else {
        vl = nws_var_list_parse(text, len, &err);
        if (vl == NULL) {
            FUZZ_ASSERT(err.code == NWS_ERR_PROTOCOL || err.code == NWS_ERR_NOMEM);
            return 0;
        }
        FUZZ_ASSERT(vl->raw_len == len && memcmp(vl->raw, text, len) == 0);
        for (i = 0; i < vl->count; i++)
            FUZZ_ASSERT(strlen(vl->items[i].name) + strlen(vl->items[i].mode) < len);
        nws_var_list_free(vl);
    }
    return 0;
}
