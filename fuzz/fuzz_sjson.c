/*
 * fuzz_sjson.c -- the sleigh records' own JSON reader and writer
 * (sleigh/sleigh_json.c) against jansson, on memory.
 *
 * The input is JSON text (or anything).  Properties:
 *   - nwsp_sleigh_json_parse accepts exactly what json_loadb (JSON_DECODE_ANY
 *     | JSON_ALLOW_NUL) accepts, and gives an equal value;
 *   - what nwsp_sleigh_json_put writes of that value reads back equal;
 *   - nwsp_sleigh_json_fill, when it takes an array's text, fills the same
 *     items as jansson's parse of it;
 *   - nwsp_sleigh_json_parse_except on an object with key "a" gives the rest
 *     of the object, and the items it then reads one at a time from the span
 *     are jansson's items of "a".
 */
#include <string.h>

#include "fuzz.h"
#include "nwsp.h"
#include "sleighp.h"

static json_t *
fuzz_loadb(const char *p, size_t len)
{
    return json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* The object and array readers that skip over a key's items. */
static void
fuzz_except(const char *text, size_t len, const json_t *want)
{
    struct nwsp_sleigh_items it;
    const char              *span = NULL, *item;
    size_t                   spanlen = 0, nitems = 0, ilen, i = 0;
    json_t                  *rest, *wa, *x;
    int                      r;

    rest = nwsp_sleigh_json_parse_except(text, len, "a", &span, &spanlen, &nitems);
    if (rest == NULL)
        return; /* not taken: the caller parses the text whole */
    if (want == NULL) {
        /* The items are only checked as they are read: a fault must show then. */
        int bad = 0;

        nwsp_sleigh_items_init(&it, span, spanlen);
        while (!bad && (r = nwsp_sleigh_items_next(&it, &item, &ilen)) == 1) {
            if ((x = nwsp_sleigh_json_parse(item, ilen)) == NULL)
                bad = 1;
            json_decref(x);
        }
        FUZZ_ASSERT(bad || r == -1);
        json_decref(rest);
        return;
    }
    /* Taken: jansson must agree it is an object whose "a" is an array. */
    FUZZ_ASSERT(json_is_object(want));
    wa = json_object_get(want, "a");
    FUZZ_ASSERT(json_is_array(wa));
    FUZZ_ASSERT(json_object_size(rest) + 1 == json_object_size(want));
    FUZZ_ASSERT(json_object_get(rest, "a") == NULL);
    json_object_foreach(rest, item, x)
        FUZZ_ASSERT(json_equal(x, json_object_get(want, item)));
    FUZZ_ASSERT(nitems == json_array_size(wa));
    nwsp_sleigh_items_init(&it, span, spanlen);
    while ((r = nwsp_sleigh_items_next(&it, &item, &ilen)) == 1) {
        x = nwsp_sleigh_json_parse(item, ilen);
        FUZZ_ASSERT(x != NULL && i < json_array_size(wa));
        FUZZ_ASSERT(json_equal(x, json_array_get(wa, i)));
        json_decref(x);
        i++;
    }
    FUZZ_ASSERT(r == 0 && i == json_array_size(wa));
    json_decref(rest);
}

int
nwsfuzz_sjson(const uint8_t *data, size_t size)
{
    const char     *text = (const char *)data;
    struct nwsp_buf b = {0};
    json_t         *ours, *theirs, *back, *a;

    ours = nwsp_sleigh_json_parse(text, size);
    theirs = fuzz_loadb(text, size);
    FUZZ_ASSERT((ours == NULL) == (theirs == NULL));
    if (ours != NULL) {
        FUZZ_ASSERT(json_equal(ours, theirs));
        FUZZ_ASSERT(nwsp_sleigh_json_put(&b, ours) == 0);
        back = fuzz_loadb(b.data, b.len);
        FUZZ_ASSERT(back != NULL && json_equal(back, ours));
        json_decref(back);
    }
    if ((a = json_array()) != NULL) {
        if (nwsp_sleigh_json_fill(a, text, size) == 0)
            FUZZ_ASSERT(json_is_array(theirs) && json_equal(a, theirs));
        json_decref(a);
    }
    fuzz_except(text, size, theirs);
    nwsp_buf_free(&b);
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
